"""In-process state of both limiters: one worker's dictionaries.

With several workers and no Redis each worker enforces its own budget (the
start-up output says so). Idle entries are swept every few thousand calls, so
memory follows the number of active callers, not of callers ever seen.
"""

from __future__ import annotations

from trunkline.limits import operating
from trunkline.limits.bucket import Rate, admit
from trunkline.limits.operating import Bucket, Usage

_SWEEP_EVERY = 4096


class MemoryBackend:
    name = "in-process"
    shared = False

    def __init__(self) -> None:
        self._levels: dict[str, tuple[float, float, float]] = {}  # level, since, idle_seconds
        self._windows: dict[str, dict[int, Bucket]] = {}
        self._calls = 0

    async def admit(
        self, rate_key: str | None, rate: Rate | None, op_key: str | None, now: float
    ) -> tuple[bool, Usage | None]:
        """Take one request from ``rate_key``'s bucket and read ``op_key``'s usage."""
        self._calls += 1
        if self._calls >= _SWEEP_EVERY:
            self.sweep(now)
        if rate_key is not None and rate is not None:
            level, since, _ = self._levels.get(rate_key, (0.0, now, 0.0))
            allowed, level = admit(level, since, now, rate)
            self._levels[rate_key] = (level, max(since, now), rate.idle_seconds)
            if not allowed:
                return False, None
        if op_key is None:
            return True, None
        window = self._windows.get(op_key)
        return True, operating.EMPTY if window is None else operating.usage(window, now)

    async def record(self, op_key: str, now: float, seconds: float) -> Usage:
        window = self._windows.setdefault(op_key, {})
        return operating.record(window, now, seconds)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def sweep(self, now: float) -> None:
        """Forget buckets that have drained and windows whose buckets all expired."""
        self._calls = 0
        for key, (_, since, idle) in list(self._levels.items()):
            if since + idle <= now:
                del self._levels[key]
        for key, window in list(self._windows.items()):
            if not operating.usage(window, now).reset_at:
                del self._windows[key]
