"""Framing SIP messages on a byte stream (TCP, TLS): RFC 3261 §18.3 and RFC 5626 §4.4.1.

Rules:

* Bytes may arrive in any chunking; the events produced do not depend on it.
* A message is its header block, the empty line, then exactly `Content-Length` body bytes
  (absent means 0). Bytes after it stay buffered for the next message.
* Between messages, each CRLF is a keep-alive unit: the first CRLF of a run is a
  `KeepAlivePong` (proof the peer is alive), the second completes a CRLFCRLF `KeepAlivePing`
  (answer it with one CRLF), the third is a pong again, and so on. A bare LF is skipped; a CR
  followed by anything but LF is an error.
* The buffer is bounded: a header block or a whole message bigger than `max_size` raises
  `SipMessageTooLargeError` as soon as that is known, without waiting for the bytes.
* After any error the reader is broken: the stream cannot be resynchronised, every later
  `feed` raises `SipParseError`, and the caller should close the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.sip.errors import SipMessageTooLargeError, SipParseError
from trunkline.sip.message import MAX_MESSAGE_SIZE, Request, Response, find_head_end, parse_head

__all__ = ["KeepAlivePing", "KeepAlivePong", "StreamEvent", "StreamReader"]


@dataclass(frozen=True)
class KeepAlivePing:
    """A CRLFCRLF between messages: the peer asks for a CRLF pong."""


@dataclass(frozen=True)
class KeepAlivePong:
    """A CRLF between messages: the peer is alive."""


StreamEvent = Request | Response | KeepAlivePing | KeepAlivePong


class StreamReader:
    """Turns stream bytes into messages and keep-alive events."""

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._max_size = max_size
        self._buffer = bytearray()
        self._scanned = 0
        self._pending: tuple[Request | Response, int] | None = None
        self._crlf_run = 0
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of an emitted event."""
        return len(self._buffer)

    @property
    def in_message(self) -> bool:
        """True while part of a message has been received (closing now would truncate it)."""
        return self._pending is not None or bool(self._buffer.strip(b"\r\n"))

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Add received bytes; return every event now complete."""
        if self._broken:
            raise SipParseError("stream reader is broken by an earlier error")
        self._buffer += data
        events: list[StreamEvent] = []
        try:
            while (event := self._next_event()) is not None:
                events.append(event)
        except SipParseError:
            self._broken = True
            self._buffer.clear()
            raise
        return events

    def _next_event(self) -> StreamEvent | None:
        if self._pending is None:
            keepalive = self._skip_keepalive()
            if keepalive is not None or not self._buffer or self._buffer == b"\r":
                return keepalive
            self._crlf_run = 0
            self._pending = self._read_head()
            if self._pending is None:
                return None
        message, length = self._pending
        if len(self._buffer) < length:
            return None
        message.body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._pending = None
        return message

    def _skip_keepalive(self) -> StreamEvent | None:
        while self._buffer[:1] == b"\n":
            del self._buffer[:1]
        if self._buffer[:2] == b"\r\n":
            del self._buffer[:2]
            self._crlf_run += 1
            return KeepAlivePing() if self._crlf_run % 2 == 0 else KeepAlivePong()
        if self._buffer[:1] == b"\r" and len(self._buffer) > 1:
            raise SipParseError("CR without LF between messages")
        return None

    def _read_head(self) -> tuple[Request | Response, int] | None:
        end = find_head_end(self._buffer, max(0, self._scanned - 3))
        if end is None:
            self._scanned = len(self._buffer)
            if len(self._buffer) > self._max_size:
                raise SipMessageTooLargeError(f"header block exceeds {self._max_size} bytes")
            return None
        self._scanned = 0
        head_length, separator = end
        if head_length + separator > self._max_size:
            raise SipMessageTooLargeError(f"header block exceeds {self._max_size} bytes")
        message, content_length = parse_head(self._buffer[:head_length])
        length = content_length or 0
        if head_length + separator + length > self._max_size:
            raise SipMessageTooLargeError(f"message exceeds {self._max_size} bytes")
        del self._buffer[: head_length + separator]
        return message, length
