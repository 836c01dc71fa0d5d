"""SIP requests and responses: the model, the parser and the serialiser (RFC 3261 §7, §18.3).

Rules:

* A message is a start line, header lines, an empty line and a body. Lines end in CRLF; a bare
  LF is accepted on input, CRLF is always written.
* CRLFs before the start line are ignored (RFC 3261 §7.5).
* A line starting with SP or HTAB continues the previous header value (folding); the pieces are
  joined with one space.
* Header text must be UTF-8 without control characters other than HTAB; the body is bytes.
* Header names are case-insensitive and compact forms expand (see `headers.py`). Repeated
  headers keep their order; `Headers.get_list` splits comma lists (Via, Contact, Route...).
* Datagrams: `Content-Length`, when present, says how much of the rest is body; extra bytes are
  dropped, missing bytes are an error. Without it the body runs to the end of the datagram.
* Streams (see `stream.py`): `Content-Length` frames the message; absent means 0.
* Several `Content-Length` values must agree. A message bigger than `max_size` (64 KiB by
  default) raises `SipMessageTooLargeError` before it is decoded.
* The serialiser always writes the true `Content-Length` (replacing a stale one in place or
  appending one) and refuses CR or LF in any header value.
* Every failure raises a `SipParseError`; nothing else leaks.
* Parsed Via headers are remembered per message while their text is unchanged (the
  transaction and the REGISTER flow both read them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from trunkline.sip.errors import SipMessageTooLargeError, SipParseError
from trunkline.sip.headers import (
    Address,
    Via,
    canonical_name,
    parse_address,
    parse_address_list,
    parse_cseq,
    parse_via_list,
    split_list,
)

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Headers",
    "Message",
    "Request",
    "Response",
    "check_value",
    "find_head_end",
    "is_keepalive",
    "parse_datagram",
    "parse_head",
]

MAX_MESSAGE_SIZE = 64 * 1024

_REQUEST_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0")
_STATUS_LINE_RE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?")
_BAD_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
_LINE_BREAK_RE = re.compile(r"\r?\n")
_SPACE_RE = re.compile(r"\s")
# The control bytes (HTAB is allowed): a common head has none but its CRLFs'.
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])


# The usual field names as phones spell them, mapped to their canonical spelling (a dict
# lookup in place of `canonical_name`'s strip and cache); any other goes through it.
_COMMON_SPELLINGS = (
    "Via From To Call-ID CSeq Contact Max-Forwards Expires Authorization Content-Length"
    " User-Agent Allow Supported Content-Type WWW-Authenticate Server Route Record-Route"
    " Path Require Event Accept Allow-Events Date Min-Expires Proxy-Authorization"
    " v f t i m l k c"
)
_COMMON_NAMES = {
    name: canonical_name(name)
    for spelling in _COMMON_SPELLINGS.split()
    for name in (spelling, spelling.lower(), spelling.upper())
}


def check_value(name: str, value: str) -> None:
    """A header field's value holds no CR or LF (it would end the field)."""
    if "\r" in value or "\n" in value:
        raise SipParseError(f"CR or LF in the value of {name!r}")


class Headers:
    """An ordered multi-map of header fields with case-insensitive, compact-aware names.

    Lookups go through an index by canonical name, built at the first lookup and kept in
    step by `add` (`set` and `remove` drop it): a request is read a dozen times by name.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] | None = None
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _checked(cls, items: list[tuple[str, str]]) -> Headers:
        """Headers holding `items` as they are: canonical names and values already checked
        (taken from other Headers); indexed at the first lookup."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._index = None
        return headers

    def _values(self, name: str) -> list[str]:
        """The values of the canonical `name`: the index's own list (never change it)."""
        index = self._index if self._index is not None else self._indexed()
        return index.get(name) or []

    def copy(self) -> Headers:
        """An independent copy (the fields are already checked: no re-validation)."""
        copied = Headers()
        copied._items = list(self._items)
        return copied

    def _indexed(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name, value in self._items:
            found = index.get(name)
            if found is None:
                index[name] = [value]
            else:
                found.append(value)
        self._index = index
        return index

    def add(self, name: str, value: str) -> None:
        """Append a header field (after any with the same name)."""
        check_value(name, value)
        key = _COMMON_NAMES.get(name) or canonical_name(name)
        self._items.append((key, value))
        index = self._index
        if index is not None:
            found = index.get(key)
            if found is None:
                index[key] = [value]
            else:
                found.append(value)

    def set(self, name: str, value: str) -> None:
        """Replace every field named `name` by one field with `value`, in the first's place."""
        key = canonical_name(name)
        index = next((i for i, (n, _) in enumerate(self._items) if n == key), len(self._items))
        self.remove(key)
        self.add(key, value)
        self._items.insert(index, self._items.pop())

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [(n, v) for n, v in self._items if n != key]
        self._index = None

    def get(self, name: str) -> str | None:
        """The first value of `name`, or None."""
        index = self._index if self._index is not None else self._indexed()
        found = index.get(name)  # a canonical name (the callers' usual spelling) as it is
        if found is None:
            found = index.get(canonical_name(name))
        return None if found is None else found[0]

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in order, unsplit."""
        index = self._index if self._index is not None else self._indexed()
        found = index.get(name)
        if found is None:
            found = index.get(canonical_name(name))
        return [] if found is None else list(found)

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of every `name` field, in order."""
        return [element for value in self.get_all(name) for element in split_list(value)]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        index = self._index if self._index is not None else self._indexed()
        return name in index or self.get(name) is not None  # (an index list is never empty)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Message:
    """Accessors shared by requests and responses; they raise `SipParseError` when missing."""

    headers: Headers
    body: bytes

    def _required(self, name: str) -> str:
        headers = self.headers  # a canonical name: the index's, as `get` finds it first
        found = (headers._index if headers._index is not None else headers._indexed()).get(name)
        if found is not None:
            return found[0]
        value = headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        value = self._required("Call-ID").strip()
        if not value or _SPACE_RE.search(value):
            raise SipParseError("invalid Call-ID")
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self._required("CSeq"))

    @property
    def vias(self) -> list[Via]:
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("missing Via header")
        cached = self.__dict__.get("_vias")  # parsed once per distinct Via text
        if cached is None or cached[0] != values:
            if len(values) == 1:
                cached = (values, parse_via_list(values[0]))
            else:
                cached = (values, [via for value in values for via in parse_via_list(value)])
            self.__dict__["_vias"] = cached
        return list(cached[1])

    @property
    def from_address(self) -> Address:
        return parse_address(self._required("From"))

    @property
    def to_address(self) -> Address:
        return parse_address(self._required("To"))

    @property
    def contacts(self) -> list[Address]:
        """Every Contact address, in order (`[]` when there is none)."""
        values = self.headers.get_all("Contact")
        if len(values) == 1:
            return parse_address_list(values[0])
        return [address for value in values for address in parse_address_list(value)]

    def _serialised(self, start_line: str) -> bytes:
        """The start line, the fields (with the true Content-Length) and the body."""
        body = self.body
        parts = [start_line]
        length_written = False
        for name, value in self.headers._items:
            if name == "Content-Length":
                if length_written:
                    continue
                value, length_written = str(len(body)), True
            parts.append(f"{name}: {value}")
        if not length_written:
            parts.append(f"Content-Length: {len(body)}")
        parts.append("\r\n")
        return "\r\n".join(parts).encode() + body


@dataclass(eq=True)
class Request(Message):
    """A SIP request. `uri` is the Request-URI as text."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return self._serialised(f"{self.method} {self.uri} SIP/2.0")


@dataclass(eq=True)
class Response(Message):
    """A SIP response."""

    status_code: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return self._serialised(f"SIP/2.0 {self.status_code} {self.reason}")


def find_head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Find the empty line ending the header block: `(head_length, separator_length)` or None."""
    crlf = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start, crlf + 1 if crlf >= 0 else len(data))  # one before it?
    if crlf >= 0 and lf < 0:
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return None


def _rare_name(name: str) -> str | None:
    try:
        return canonical_name(name.rstrip(" \t"))
    except SipParseError:
        return None


def parse_head(head: bytes | bytearray) -> tuple[Request | Response, int | None]:
    """Parse a start line plus headers (no empty line) into a body-less message.

    Returns the message and its declared Content-Length (None when absent).

    The common head (CRLF line ends, no folding, no control character but HTAB) is split
    with `str.split` in one pass that also indexes the fields; any other text goes to
    `_parse_head_strict`, which gives the same result on the common head (a property
    test holds them equal).
    """
    head = bytes(head)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("header block is not UTF-8") from exc
    whole = text
    if head[:1] in (b"\r", b"\n"):
        head, text = head.lstrip(b"\r\n"), text.lstrip("\r\n")
    lines = text.split("\r\n")
    # Every control byte (HTAB apart) is one of a CRLF's: no bare CR or LF, no other control.
    if len(head) - len(head.translate(None, _CONTROL_BYTES)) != 2 * len(lines) - 2:
        return _parse_head_strict(whole)
    message = _start(lines[0], checked=True)  # the translate above found no control byte
    headers = message.headers
    items = headers._items  # values hold no CR or LF: no `add`
    index: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = _COMMON_NAMES.get(name) if colon else None
        if key is None:
            key = _rare_name(name) if colon and line[:1] not in (" ", "\t") else None
            if key is None:  # a folded line or an error: the strict parser knows what to do
                return _parse_head_strict(whole)
        value = value.strip()
        items.append((key, value))
        found = index.get(key)
        if found is None:
            index[key] = [value]
        else:
            found.append(value)
    headers._index = index
    lengths = index.get("Content-Length")
    if lengths is None:
        return message, None
    if len(lengths) == 1:
        value = lengths[0]
        if value.isdigit() and value.isascii() and len(value) <= 10:
            return message, int(value)
    return message, _content_length(headers)


def _start(start_line: str, *, checked: bool) -> Request | Response:
    """The message a start line begins; `checked`: the line is known to hold no control
    character (a status line's reason could otherwise)."""
    if start_line.startswith("SIP/"):
        status = _STATUS_LINE_RE.fullmatch(start_line)
        if status is None or (not checked and _BAD_CHARS_RE.search(start_line)):
            raise SipParseError(f"invalid status line {start_line[:80]!r}")
        return Response(int(status.group(1)), status.group(2) or "")
    request = _REQUEST_LINE_RE.fullmatch(start_line)
    if request is None:
        raise SipParseError(f"invalid request line {start_line[:80]!r}")
    return Request(request.group(1), request.group(2))


def _parse_head_strict(text: str) -> tuple[Request | Response, int | None]:
    """`parse_head` for any text: bare LFs, folded lines, control characters."""
    lines = _LINE_BREAK_RE.split(text.lstrip("\r\n"))
    message = _start(lines[0], checked=False)
    del lines[0]
    if _BAD_CHARS_RE.search("".join(lines)):  # no line holds CR or LF: they were split off
        raise SipParseError("control character in header block")
    items = message.headers._items  # values checked above: no CR or LF, so no `add`
    if "\n " not in text and "\n\t" not in text:  # no folded line: one pass
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise SipParseError(f"header line without colon {line[:80]!r}")
            items.append((canonical_name(name.rstrip(" \t")), value.strip()))
        return message, _content_length(message.headers)
    fields: list[list[str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("continuation line before the first header")
            fields[-1][1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without colon {line[:80]!r}")
        fields.append([name.rstrip(" \t"), value.strip()])
    for name, value in fields:
        items.append((canonical_name(name), value.strip()))
    return message, _content_length(message.headers)


def _content_length(headers: Headers) -> int | None:
    values = {value for value in headers.get_all("Content-Length")}
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError("conflicting Content-Length values")
    value = values.pop()
    if not _DIGITS_RE.fullmatch(value):
        raise SipParseError(f"invalid Content-Length {value[:20]!r}")
    return int(value)


def parse_datagram(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one UDP datagram holding one whole message."""
    if len(data) > max_size:
        raise SipMessageTooLargeError(f"datagram of {len(data)} bytes exceeds {max_size}")
    data = data.lstrip(b"\r\n")
    end = find_head_end(data)
    if end is None:
        raise SipParseError("no empty line after the headers")
    head_length, separator = end
    message, content_length = parse_head(data[:head_length])
    rest = data[head_length + separator :]
    if content_length is not None:
        if len(rest) < content_length:
            raise SipParseError("body shorter than Content-Length")
        rest = rest[:content_length]
    message.body = rest
    return message


def is_keepalive(data: bytes) -> bool:
    """True for a datagram that is only a keep-alive (CRLFs, NULs or spaces, RFC 5626 §4.4)."""
    if data[:1] not in _KEEPALIVE_BYTES:  # a message (one memchr, not a stripped copy)
        return False
    return not data.strip(_KEEPALIVE_BYTES)


_KEEPALIVE_BYTES = b"\r\n\x00 \t"
