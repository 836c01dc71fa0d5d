"""The registration history of a line: each change of state with the SIP transaction behind it.

Rules:

* One :class:`HistoryEntry` per change of what a line shows: a cloud line's STATUS_RESULT
  and code (``error 408 -> success 200``), an office line's binding state (``unregistered
  -> registered``, ``registered -> refused``). Refreshes that change nothing leave nothing.
* The transaction is the messages of the attempt that made the change, in order: start
  line and headers as they went over the wire, bodies dropped, digest secrets masked
  (``response`` and ``cnonce`` of Authorization and Proxy-Authorization: with them, a
  password could be guessed offline).
* How many entries a line keeps is the ``history_limit`` setting; older ones are dropped
  as new ones arrive.
* :func:`ladder` draws an entry as a text SIP ladder (the console and the CLI show it).
* Each entry also raises ``ONTRUNKLINELINESTATE`` (:func:`event_data`), a Trunkline event
  that Bitrix24 does not have, through the events outbox, and is POSTed to the portal's
  plain ops webhook when one is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LINE_STATE_EVENT",
    "OPS_WEBHOOK_OPTION",
    "HistoryEntry",
    "SipRecord",
    "event_data",
    "ladder",
    "mask_header",
]

# Trunkline's own event, not a Bitrix24 one (docs/operations.md): raised through the events
# outbox at each history entry; apps bind it like any event.
LINE_STATE_EVENT = "ONTRUNKLINELINESTATE"
OPS_WEBHOOK_OPTION = "ops_webhook_url"  # the portal option of the plain webhook

MASKED = "***"
# The lookahead (the first letter either name must start with) lets the engine skip the
# other positions of the value at once rather than trying \b and both names at each: 2.6
# against 4.1 us a sipp Authorization, the same matches (a phone's first REGISTER masks one).
_DIGEST_SECRET = re.compile(r"(?i)(?=[rc])\b(response|cnonce)\s*=\s*(\"[^\"]*\"|[^,\s]+)")
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


def mask_header(name: str, value: str) -> str:
    """A header's value as the history keeps it (digest secrets masked)."""
    if name.lower() in SECRET_HEADERS:
        return _DIGEST_SECRET.sub(lambda m: f'{m.group(1)}="{MASKED}"', value)
    return value


# SipRecord and HistoryEntry are made for every change a line or phone shows (a phone's
# first REGISTER: an entry and its two messages): compared and hashed by value as frozen
# dataclasses are, and never changed once made, but not frozen (a frozen __init__ sets each
# field through object.__setattr__: 2.1 against 0.5 us an entry, timeit).
@dataclass(slots=True, unsafe_hash=True)
class SipRecord:
    """One message of a transaction as the history keeps it."""

    at: float  # unix time
    outgoing: bool  # sent by Trunkline
    transport: str  # UDP, TCP, TLS
    local: str  # "ip:port" of Trunkline's side
    remote: str  # "ip:port" of the peer
    start_line: str
    headers: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        """The message as it would be sent again: start line, headers, no body."""
        lines = [self.start_line, *(f"{n}: {v}" for n, v in self.headers if n != "Content-Length")]
        return "\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n"

    def to_json(self) -> dict[str, Any]:
        data = self.json_fields()
        data["headers"] = [[n, v] for n, v in self.headers]
        return data

    def json_fields(self) -> dict[str, Any]:
        """`to_json`'s object with the headers left as their tuples: what an encoder that
        writes a tuple as an array (orjson) turns into the same JSON, with no list made a
        header (storage/history.py writes it)."""
        return {
            "at": self.at,
            "direction": "sent" if self.outgoing else "received",
            "transport": self.transport,
            "local": self.local,
            "remote": self.remote,
            "start_line": self.start_line,
            "headers": self.headers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SipRecord:
        return cls(
            float(data["at"]),
            data["direction"] == "sent",
            str(data["transport"]),
            str(data["local"]),
            str(data["remote"]),
            str(data["start_line"]),
            tuple((str(n), str(v)) for n, v in data.get("headers", ())),
        )


@dataclass(slots=True, unsafe_hash=True)
class HistoryEntry:
    portal_id: int
    config_id: int
    kind: str  # "cloud" or "office"
    at: float  # unix time of the change
    from_state: str
    to_state: str
    from_code: int | None
    status_code: int | None
    reason: str
    messages: tuple[SipRecord, ...] = field(default=())
    entry_id: int | None = None  # set when read back

    @property
    def change(self) -> str:
        before = _state(self.from_state, self.from_code)
        return f"{before} -> {_state(self.to_state, self.status_code)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "line": self.config_id,
            "kind": self.kind,
            "at": self.at,
            "time": _iso(self.at),
            "from": self.from_state,
            "to": self.to_state,
            "from_code": self.from_code,
            "status_code": self.status_code,
            "reason": self.reason,
            "transaction": [m.to_json() for m in self.messages],
        }


def event_data(entry: HistoryEntry) -> dict[str, Any]:
    """The ``data`` of ``ONTRUNKLINELINESTATE`` (and of the plain ops webhook)."""
    number = "USER_ID" if entry.kind == "phone" else "CONFIG_ID"
    return {
        "KIND": entry.kind,
        number: entry.config_id,
        "FROM": entry.from_state,
        "TO": entry.to_state,
        "FROM_CODE": entry.from_code,
        "STATUS_CODE": entry.status_code,
        "REASON": entry.reason,
        "TIME": _iso(entry.at),
    }


def _state(state: str, code: int | None) -> str:
    return state if code is None else f"{state} {code}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def ladder(entry: HistoryEntry, *, headers: bool = True) -> str:
    """The entry as a text ladder: a title line, then one arrow per message (and its
    headers, indented, unless ``headers`` is false)."""
    out = [f"{_iso(entry.at)}  line {entry.config_id}  {entry.change}  {entry.reason}".rstrip()]
    if not entry.messages:
        out.append("  (no SIP transaction: decided before anything was sent)")
    first = entry.messages[0] if entry.messages else None
    if first is not None:
        out.append(
            f"  Trunkline {first.local:<21}            peer {first.remote} ({first.transport})"
        )
    for message in entry.messages:
        offset = f"+{(message.at - entry.messages[0].at) * 1000:.0f}ms"
        arrow = (
            f"--- {message.start_line} -->"
            if message.outgoing
            else (f"<-- {message.start_line} ---")
        )
        out.append(f"  {offset:>9}  {arrow}")
        if headers:
            out.extend(f"             | {n}: {v}" for n, v in message.headers)
    return "\n".join(out)
