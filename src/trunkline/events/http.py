"""The HTTP client of event delivery: a form POST over asyncio streams, with kept-alive
connections per handler origin.

Rules:

* Only ``http`` and ``https`` URLs are called; anything else is refused before any I/O
  (:class:`NotCalledError`). Redirects are not followed: a 3xx is the handler's answer.
* One request at a time per connection; a connection goes back to the idle pool only
  after a whole response that allows keep-alive, else it is closed. At most
  ``max_idle`` idle connections are kept per origin.
* A kept connection the handler closed meanwhile fails before any byte of an answer:
  the POST is sent once more, on a new connection (the handler never saw it).
* The whole exchange (connect, send, the answer) is bounded by ``timeout``; a timeout
  or any error closes the connection. Bodies are read and dropped (at most
  ``MAX_ANSWER`` bytes are accepted).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import urlsplit

import httptools

MAX_ANSWER = 1 << 20
USER_AGENT = "Bitrix24 Webhook Engine (Trunkline)"

Origin = tuple[str, str, int]
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class NotCalledError(ValueError):
    """The URL is not one a handler may have (not http(s), no host)."""


class _Answer:
    """httptools callbacks: the status code once the message is complete."""

    def __init__(self) -> None:
        self.headers = False
        self.done = False
        self.keep_alive = False
        self.size = 0
        self.parser: Any = None

    def on_headers_complete(self) -> None:
        self.headers = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_ANSWER:
            raise ValueError("the handler's answer is too long")

    def on_message_complete(self) -> None:
        self.done = True
        # Read here: once the message is complete the parser starts over (and says no).
        self.keep_alive = bool(self.parser.should_keep_alive())


class _StaleConnectionError(Exception):
    pass


class FormPoster:
    def __init__(self, *, max_idle: int = 8) -> None:
        self.max_idle = max_idle
        self._idle: dict[Origin, list[Stream]] = {}
        self._tls: ssl.SSLContext | None = None

    @staticmethod
    def target(url: str) -> tuple[Origin, str, str]:
        """(origin, host header, path with query) of a handler URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotCalledError(f"{url} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return (parts.scheme, parts.hostname, port), parts.netloc, path

    async def post(self, url: str, body: bytes, timeout: float) -> int:
        """POST a form; the answer's status code. Raises OSError, TimeoutError,
        :class:`NotCalledError` or ValueError (a malformed answer)."""
        origin, host, path = self.target(url)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nAccept: */*\r\n\r\n"
        ).encode("latin-1")
        async with asyncio.timeout(timeout):
            while True:
                kept = self._idle.get(origin)
                reused = bool(kept)
                stream = kept.pop() if kept else await self._connect(origin)
                try:
                    status, again = await self._exchange(stream, head + body)
                except _StaleConnectionError:
                    if not reused:
                        raise ConnectionResetError("the handler closed the connection") from None
                    continue  # a kept connection the handler had closed: send once more
                except BaseException:
                    stream[1].close()
                    raise
                if again and len(self._idle.setdefault(origin, [])) < self.max_idle:
                    self._idle[origin].append(stream)
                else:
                    stream[1].close()
                return status

    async def _connect(self, origin: Origin) -> Stream:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._tls = self._tls or ssl.create_default_context()
        return await asyncio.open_connection(host, port, ssl=context)

    @staticmethod
    async def _exchange(stream: Stream, request: bytes) -> tuple[int, bool]:
        reader, writer = stream
        answer = _Answer()
        parser = answer.parser = httptools.HttpResponseParser(answer)
        try:
            writer.write(request)
            await writer.drain()
            first = await reader.read(65536)
        except (ConnectionResetError, BrokenPipeError) as exc:
            stream[1].close()
            raise _StaleConnectionError from exc
        if not first:
            stream[1].close()
            raise _StaleConnectionError
        chunk = first
        while True:
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserError as exc:
                raise ValueError(f"malformed answer: {exc}") from exc
            if answer.done:
                return int(parser.get_status_code()), answer.keep_alive
            chunk = await reader.read(65536)
            if not chunk and answer.headers:  # an answer whose end is the connection's
                return int(parser.get_status_code()), False
            if not chunk:
                raise ConnectionResetError("the handler closed the connection mid-answer")

    async def close(self) -> None:
        for streams in self._idle.values():
            for _, writer in streams:
                writer.close()
        self._idle.clear()
