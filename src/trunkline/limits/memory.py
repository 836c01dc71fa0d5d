"""In-process state of both limiters: one worker's dictionaries.

With several workers and no Redis each worker enforces its own budget (the
start-up output says so). Idle entries are swept every few thousand calls, so
memory follows the number of active callers, not of callers ever seen.

Everything here is synchronous (``admit_now`` always decides); ``admit`` exists
for the ``guard.Backend`` protocol.
"""

from __future__ import annotations

from collections.abc import Hashable

from trunkline.limits import operating
from trunkline.limits.bucket import Level, Rate
from trunkline.limits.operating import Bucket, Usage

_SWEEP_EVERY = 4096
_REFUSED: tuple[bool, Usage | None] = (False, None)
_ADMITTED: tuple[bool, Usage | None] = (True, None)
_ADMITTED_EMPTY: tuple[bool, Usage | None] = (True, operating.EMPTY)


class MemoryBackend:
    name = "in-process"
    shared = False

    def __init__(self) -> None:
        self._levels: dict[Hashable, Level] = {}
        self._windows: dict[Hashable, dict[int, Bucket]] = {}
        self._calls = 0

    def admit_now(
        self, rate_key: Hashable | None, rate: Rate | None, op_key: Hashable | None, now: float
    ) -> tuple[bool, Usage | None]:
        """Take one request from ``rate_key``'s bucket and read ``op_key``'s usage."""
        self._calls += 1
        if self._calls >= _SWEEP_EVERY:
            self.sweep(now)
        if rate_key is not None and rate is not None:
            level = self._levels.get(rate_key)
            if level is None:
                self._levels[rate_key] = level = Level(0.0, now, rate.idle_seconds)
            if not level.take(now, rate):
                return _REFUSED
        if op_key is None:
            return _ADMITTED
        window = self._windows.get(op_key)
        return _ADMITTED_EMPTY if window is None else (True, operating.usage(window, now))

    async def admit(
        self, rate_key: Hashable | None, rate: Rate | None, op_key: Hashable | None, now: float
    ) -> tuple[bool, Usage | None]:
        return self.admit_now(rate_key, rate, op_key, now)

    async def record(self, op_key: Hashable, now: float, seconds: float) -> Usage:
        window = self._windows.setdefault(op_key, {})
        return operating.record(window, now, seconds)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def sweep(self, now: float) -> None:
        """Forget buckets that have drained and windows whose buckets all expired."""
        self._calls = 0
        for key, level in list(self._levels.items()):
            if level.since + level.idle_seconds <= now:
                del self._levels[key]
        for key, window in list(self._windows.items()):
            if not operating.usage(window, now).reset_at:
                del self._windows[key]
