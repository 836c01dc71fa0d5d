"""Sockets around the sans-IO core: UDP endpoints, TCP/TLS connections, client channels.

Rules:

* A datagram holds one message (`sip.message.parse_datagram`); keep-alive datagrams (CRLFs)
  and anything that does not parse are dropped without a word.
* A stream (TCP, TLS) is framed by `sip.stream.StreamReader`. A CRLFCRLF ping is answered
  with one CRLF (RFC 5626 §4.4.1). Bytes that cannot be framed close the connection: a stream
  cannot be resynchronised.
* The client side (cloud lines) sends from one shared UDP socket per address family, bound
  to an ephemeral port, and from one TCP or TLS connection per target, shared by every line
  that registers there. The local address written in Via and Contact is the one the kernel
  routes to the target from.
* TLS checks the provider's certificate against the SIP domain, not the IP (RFC 5922).
* Failures to connect become `SipTransportError` with the text the engine stores (503):
  `Connection refused`, `TLS handshake failed: ...`, `Connection timed out`, ...
* Nothing here knows SIP beyond framing: parsed messages go to callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkline.engine.resolver import Target
from trunkline.sip.errors import SipParseError
from trunkline.sip.message import (
    MAX_MESSAGE_SIZE,
    Request,
    Response,
    is_keepalive,
    parse_datagram,
)
from trunkline.sip.registration import Flow
from trunkline.sip.stream import KeepAlivePing, KeepAlivePong, StreamReader

__all__ = [
    "Channel",
    "ClientTransport",
    "DatagramEndpoint",
    "SipTransportError",
    "StreamConnection",
    "describe_error",
    "host_port",
]

log = logging.getLogger("trunkline.engine")

Message = Request | Response
RECEIVE_BUFFER = 4 * 1024 * 1024
READ_BATCH = 256


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SipTransportError(Exception):
    """A connection could not be made or broke; `str()` is the text the line shows.

    Never reaches REST: the supervisor turns it into a registration outcome (503 and
    this text), as every SIP failure is."""


def describe_error(exc: BaseException) -> str:
    """The short text stored for a transport failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS handshake failed: {exc.verify_message or exc.reason or 'certificate'}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, ConnectionResetError):
        return "Connection reset"
    if isinstance(exc, TimeoutError):
        return "Connection timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


class DatagramEndpoint:
    """A UDP socket served straight from the event loop's selector.

    Each time the socket is readable, up to `READ_BATCH` datagrams are read, parsed and handed
    to `on_message` in one go (a burst of answers costs one wake-up, not one per datagram);
    `send` is one `sendto`. A datagram the kernel cannot take at once (full send buffer) or
    refuses is dropped, as the network could have dropped it: Timer E retransmits requests,
    the server transaction answers a retransmitted request again.

    With `pause` (seconds, the registrar's), the socket is not watched for that long after
    a wake-up that read something and emptied it: under steady traffic the datagrams of a
    pause are read in one wake-up instead of one each (each wake-up of the process costs
    more than the datagram it reads), for at most `pause` of added latency. A datagram
    after a quiet spell is read at once, and a socket still holding datagrams after
    `READ_BATCH` is read again at once (the pause never caps the rate). `after_read`, when
    set, is called at the end of every wake-up that read something (the registrar starts
    there the binding batch its REGISTERs wait for: one commit per wake-up).
    """

    def __init__(self, on_message: Callable[[Message, tuple[str, int]], None]) -> None:
        self._on_message = on_message
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray(MAX_MESSAGE_SIZE + 1)  # one byte more: too big is seen
        self._view = memoryview(self._buffer)
        self._local: tuple[str, int] = ("", 0)
        self.pause = 0.0
        self._paused: asyncio.TimerHandle | None = None
        self.after_read: Callable[[], None] | None = None

    @classmethod
    async def open(
        cls,
        on_message: Callable[[Message, tuple[str, int]], None],
        host: str,
        port: int,
        *,
        family: int = socket.AF_UNSPEC,
    ) -> DatagramEndpoint:
        """Bind a UDP socket to `host:port` (0: any free port) and start reading it."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        sock_family, _, proto, _, address = infos[0]
        sock = socket.socket(sock_family, socket.SOCK_DGRAM, proto)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # the kernel caps it silently
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        endpoint = cls(on_message)
        endpoint.sock, endpoint._loop = sock, loop
        local = sock.getsockname()
        endpoint._local = (str(local[0]), int(local[1]))
        loop.add_reader(sock.fileno(), endpoint.read_ready)
        return endpoint

    def read_ready(self) -> None:
        """Drain the socket: every datagram waiting (at most `READ_BATCH`)."""
        sock = self.sock
        if sock is None:
            return
        count = 0
        while count < READ_BATCH:
            try:
                size, addr = sock.recvfrom_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # an ICMP error reported late: Timer F reports the silence
                break
            count += 1
            self.datagram_received(self._view[:size].tobytes(), addr)
        if count and self.after_read is not None:
            try:
                self.after_read()
            except Exception:  # as for a handler: the socket goes on
                log.exception("error after reading datagrams")
        paused = 0 < count < READ_BATCH and self.pause > 0  # at READ_BATCH more may wait
        if paused and self._loop is not None and self.sock is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._paused = self._loop.call_later(self.pause, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if self.sock is not None and self._loop is not None:
            self._loop.add_reader(self.sock.fileno(), self.read_ready)
            self.read_ready()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse_datagram(data)
        except SipParseError:
            return
        try:
            self._on_message(message, (str(addr[0]), int(addr[1])))
        except Exception:  # a bug in a handler must not kill the socket
            log.exception("error handling a datagram from %s", addr[0])

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:  # full buffer, unreachable network: as if the network lost it
            log.debug("UDP datagram to %s dropped: %s", addr[0], exc)

    @property
    def local(self) -> tuple[str, int]:
        return self._local

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()


class StreamConnection(asyncio.Protocol):
    """A TCP or TLS connection carrying framed SIP messages."""

    def __init__(
        self,
        transport_name: str,
        on_message: Callable[[Message, StreamConnection], None],
        on_closed: Callable[[StreamConnection, str], None],
    ) -> None:
        self.transport_name = transport_name
        self._on_message = on_message
        self._on_closed = on_closed
        self._reader = StreamReader()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.local = (str(local[0]), int(local[1]))

    def data_received(self, data: bytes) -> None:
        try:
            events = self._reader.feed(data)
        except SipParseError as exc:
            log.debug("closing %s connection from %s: %s", self.transport_name, self.peer, exc)
            self.close()
            return
        for event in events:
            if isinstance(event, KeepAlivePing):
                self.send(b"\r\n")
            elif not isinstance(event, KeepAlivePong):
                try:
                    self._on_message(event, self)
                except Exception:
                    log.exception("error handling a message from %s", self.peer)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_closed(self, describe_error(exc) if exc else "Connection closed")

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, without flushing (shutdown)."""
        if self.transport is not None:
            self.transport.abort()


@dataclass
class Channel:
    """Where one attempt's requests go: a target, the flow they leave from, and a sender."""

    target: Target
    flow: Flow
    _send: Callable[[bytes], None]
    connection: StreamConnection | None = None

    def send(self, data: bytes) -> None:
        self._send(data)

    @property
    def usable(self) -> bool:
        return self.connection is None or not self.connection.closed


def _route_source(address: str, port: int) -> str:
    """The local address the kernel would send from to reach `address`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((address, port))
        return str(probe.getsockname()[0])


class ClientTransport:
    """The sockets cloud lines register through."""

    def __init__(
        self,
        on_response: Callable[[Response], None],
        on_closed: Callable[[StreamConnection, str], None],
        *,
        bind_host: str = "",
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 32.0,
    ) -> None:
        self._on_response = on_response
        self._on_closed = on_closed
        self._bind_host = bind_host
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._udp: dict[int, DatagramEndpoint] = {}
        self._streams: dict[tuple[str, str, int, str], StreamConnection] = {}
        self._connecting: dict[tuple[str, str, int, str], asyncio.Future[StreamConnection]] = {}
        self._sources: dict[str, str] = {}

    async def open(self) -> None:
        await self._udp_endpoint(socket.AF_INET)

    async def _udp_endpoint(self, family: int) -> DatagramEndpoint:
        endpoint = self._udp.get(family)
        if endpoint is None:
            host = self._bind_host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
            endpoint = await DatagramEndpoint.open(self._message, host, 0, family=family)
            self._udp[family] = endpoint
        return endpoint

    def _message(self, message: Message, _source: object) -> None:
        """A message from a datagram or a stream: only responses matter to a client."""
        if isinstance(message, Response):
            self._on_response(message)

    def _source(self, target: Target, bound: str) -> str:
        if bound not in ("0.0.0.0", "::"):
            return bound
        source = self._sources.get(target.address)
        if source is None:
            try:
                source = _route_source(target.address, target.port)
            except OSError:
                source = "127.0.0.1" if not target.family_v6 else "::1"
            self._sources[target.address] = source
        return source

    def channel_now(self, target: Target) -> Channel | None:
        """A channel usable at once (UDP with its socket open, or a live connection)."""
        if target.transport == "UDP":
            family = socket.AF_INET6 if target.family_v6 else socket.AF_INET
            endpoint = self._udp.get(family)
            if endpoint is None:
                return None
            bound, port = endpoint.local
            flow = Flow("UDP", self._source(target, bound), port)
            addr = (target.address, target.port)
            return Channel(target, flow, lambda data: endpoint.send(data, addr))
        connection = self._streams.get(self._key(target))
        if connection is None or connection.closed:
            return None
        return self._stream_channel(target, connection)

    async def channel(self, target: Target) -> Channel:
        """A channel to `target`, connecting when needed; raises `SipTransportError`."""
        ready = self.channel_now(target)
        if ready is not None:
            return ready
        if target.transport == "UDP":
            family = socket.AF_INET6 if target.family_v6 else socket.AF_INET
            try:
                await self._udp_endpoint(family)
            except OSError as exc:
                raise SipTransportError(describe_error(exc)) from exc
            channel = self.channel_now(target)
            assert channel is not None
            return channel
        key = self._key(target)
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(target))
            self._connecting[key] = pending
            pending.add_done_callback(lambda _f: self._connecting.pop(key, None))
        connection = await asyncio.shield(pending)
        return self._stream_channel(target, connection)

    @staticmethod
    def _key(target: Target) -> tuple[str, str, int, str]:
        return (target.transport, target.address, target.port, target.domain)

    def _stream_channel(self, target: Target, connection: StreamConnection) -> Channel:
        host, port = connection.local
        return Channel(target, Flow(target.transport, host, port), connection.send, connection)

    async def _connect(self, target: Target) -> StreamConnection:
        loop = asyncio.get_running_loop()
        tls = target.transport == "TLS"
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamConnection(
                        target.transport, self._message, self._connection_closed
                    ),
                    target.address,
                    target.port,
                    ssl=self._ssl if tls else None,
                    server_hostname=target.domain if tls else None,
                ),
                self._connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise SipTransportError(describe_error(exc)) from exc
        self._streams[self._key(target)] = connection
        return connection

    def _connection_closed(self, connection: StreamConnection, reason: str) -> None:
        for key, known in list(self._streams.items()):
            if known is connection:
                del self._streams[key]
        self._on_closed(connection, reason)

    async def close(self) -> None:
        pending = list(self._connecting.values())
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for connection in list(self._streams.values()):
            connection.abort()
        for endpoint in self._udp.values():
            endpoint.close()
        self._udp.clear()
        for _ in range(3):  # let the transports call connection_lost and close their sockets
            await asyncio.sleep(0)
