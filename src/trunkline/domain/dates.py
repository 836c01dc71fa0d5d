"""Dates on the wire: a portal's time zone, ``date('c')`` of a moment, and ISO-8601 read
back (no I/O).

Rules:

* A portal's zone is its IANA name; an unknown name is UTC.
* :func:`iso_date` writes the whole second in the portal's zone with its offset, as PHP's
  ``date('c')``: ``2026-03-10T11:19:38+01:00``.
* :func:`parse_date` reads what PHP's ``strtotime`` reads of ISO-8601: a date, a date and
  time (``T`` or a space), an optional fraction, and ``Z`` or an offset; a time without
  an offset is in the portal's zone. Anything else is None.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ISO = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*"
)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone of a portal; UTC when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=1024)
def _iso_second(second: int, timezone: str) -> str:
    return datetime.fromtimestamp(second, zone(timezone)).isoformat(timespec="seconds")


def iso_date(timestamp: float, timezone: str) -> str:
    """PHP ``date('c')`` of the whole second, in the portal's time zone."""
    return _iso_second(int(timestamp), timezone)


def parse_date(text: str, timezone: str) -> float | None:
    """Seconds since the epoch of an ISO-8601 date or date-time; None if it is not one."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=zone(timezone),
        )
    except ValueError:
        return None
    if offset is None:
        return moment.timestamp()
    naive = moment.replace(tzinfo=None)
    if offset in ("Z", "z"):
        shift = 0
    else:
        digits = offset[1:].replace(":", "")
        shift = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
        shift = shift if offset[0] == "+" else -shift
    return naive.replace(tzinfo=ZoneInfo("UTC")).timestamp() - shift
