"""The HTTP protocol ``trunkline serve`` runs: uvicorn's httptools protocol, corked.

Rules:

* Bytes written to a connection during one event-loop callback leave in one
  ``transport.write`` at its end (``loop.call_soon``): a response's head and body, which
  uvicorn writes separately, go out in one send instead of two. On loopback, where local
  clients and tests talk to Trunkline, every send is a trip through the TCP stack on the
  server's CPU.
* Nothing is held longer than the callback that wrote it, nothing is reordered, and
  closing (or ``write_eof``) sends what is held first. Everything else is the transport's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CorkedHttpToolsProtocol", "CorkedTransport"]


class CorkedTransport:
    """A transport whose writes of one loop callback are joined into one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def flush(self) -> None:
        """Send what is held (a no-op when nothing is, or the connection is closing)."""
        if not self._held:
            return
        held, self._held = self._held, []
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``HttpToolsProtocol`` over a :class:`CorkedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        corked = CorkedTransport(transport, self.loop)
        super().connection_made(corked)  # type: ignore[arg-type]
