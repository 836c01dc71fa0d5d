"""In-process state of both limiters: one worker's dictionaries.

With several workers and no Redis each worker enforces its own budget (the
start-up output says so). Idle entries are swept when new keys have doubled the
table since the last sweep (at least 4096 entries), so memory follows the number
of active callers and methods, not of those ever seen, and a call on a known key
pays nothing for it.

Everything here is synchronous (``admit_now`` always decides; ``admit`` exists
for the ``guard.Backend`` protocol). A call costs one dictionary lookup: an
entry per portal + caller + method points at the caller's bucket (shared by its
methods) and at that method's operating window.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.limits import operating
from trunkline.limits.bucket import SLOWEST, Level, Rate
from trunkline.limits.operating import Bucket, Usage

Key = tuple[object, ...]  # (portal, auth type, app or webhook, method)

_SWEEP_AT = 4096  # a sweep runs when a new key would pass this many entries
_REFUSED: tuple[bool, Usage | None] = (False, None)
_ADMITTED: tuple[bool, Usage | None] = (True, None)
_ADMITTED_EMPTY: tuple[bool, Usage | None] = (True, operating.EMPTY)


@dataclass(slots=True)
class _Entry:
    level: Level | None  # the caller's bucket; None until a call takes from it
    window: dict[int, Bucket]  # this method's operating window (``_windows[key]``)


class MemoryBackend:
    name = "in-process"
    shared = False

    def __init__(self) -> None:
        self._levels: dict[Key, Level] = {}  # by caller: key[:3]
        self._windows: dict[Key, dict[int, Bucket]] = {}  # by key
        self._entries: dict[Key, _Entry] = {}
        self._sweep_at = _SWEEP_AT  # entries before the next sweep

    def admit_now(
        self, key: Key, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]:
        """Take one request from the caller's bucket (``bucket.admit``) and read the usage."""
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self._sweep_at:
                self.sweep(now)
            entry = self._entries[key] = _Entry(None, self._windows.setdefault(key, {}))
        if rate is not None:
            bucket = entry.level
            if bucket is None:
                bucket = self._levels.get(key[:3])
                if bucket is None:
                    bucket = self._levels[key[:3]] = Level(0.0, now)
                entry.level = bucket
            level = bucket.level
            if now > bucket.since:
                level -= (now - bucket.since) * rate.per_second
                if level < 0.0:
                    level = 0.0
                bucket.since = now
            if level + 1 > rate.capacity:
                bucket.level = level
                return _REFUSED
            bucket.level = level + 1
        if not metered:
            return _ADMITTED
        window = entry.window
        return (True, operating.usage(window, now)) if window else _ADMITTED_EMPTY

    async def admit(
        self, key: Key, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]:
        return self.admit_now(key, rate, metered, now)

    async def record(self, key: Key, now: float, seconds: float) -> Usage:
        window = self._windows.setdefault(key, {})
        return operating.record(window, now, seconds)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def sweep(self, now: float) -> None:
        """Forget buckets that have drained and windows whose buckets all expired."""
        for caller, level in list(self._levels.items()):
            if level.since + level.level / SLOWEST <= now:
                del self._levels[caller]
        for key, window in list(self._windows.items()):
            if not operating.usage(window, now).reset_at:
                del self._windows[key]
        levels, windows = self._levels, self._windows
        self._entries = {
            key: entry
            for key, entry in self._entries.items()
            if (entry.level is None or levels.get(key[:3]) is entry.level)
            and windows.get(key) is entry.window
        }
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._entries))
