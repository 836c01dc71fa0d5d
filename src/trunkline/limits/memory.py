"""In-process state of both limiters: one worker's dictionaries.

With several workers and no Redis each worker enforces its own budget (the
start-up output says so).

A call costs one dictionary lookup, by caller (portal, auth type, app or
webhook): the entry holds the caller's bucket and, once a call of the caller has
counted, its operating windows by method. Entries are swept when new callers
have doubled the table since the last sweep (at least 4096), so memory follows
the number of active callers, not of those ever seen, and a call of a known
caller pays nothing for it.

Everything here is synchronous (``admit_now`` always decides; ``admit`` exists
for the ``guard.Backend`` protocol).
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.limits import operating
from trunkline.limits.bucket import SLOWEST, Rate
from trunkline.limits.operating import Bucket, Usage

Caller = tuple[object, ...]  # (portal, auth type, app or webhook)

_SWEEP_AT = 4096  # a sweep runs when a new caller would pass this many entries
_REFUSED: tuple[bool, Usage | None] = (False, None)
_ADMITTED: tuple[bool, Usage | None] = (True, None)
_ADMITTED_EMPTY: tuple[bool, Usage | None] = (True, operating.EMPTY)


@dataclass(slots=True)
class _Caller:
    level: float  # the request-rate bucket (``bucket.admit``'s arithmetic, in place)
    since: float
    windows: dict[str, dict[int, Bucket]] | None = None  # by method, once one counted


class MemoryBackend:
    name = "in-process"
    shared = False

    def __init__(self) -> None:
        self._callers: dict[Caller, _Caller] = {}
        self._sweep_at = _SWEEP_AT

    def _state(self, caller: Caller, now: float) -> _Caller:
        if len(self._callers) >= self._sweep_at:
            self.sweep(now)
        state = self._callers[caller] = _Caller(0.0, now)
        return state

    def admit_now(
        self, caller: Caller, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]:
        """Take one request from the caller's bucket and read the method's usage."""
        state = self._callers.get(caller)
        if state is None:
            state = self._state(caller, now)
        if rate is not None:
            level = state.level
            if now > state.since:
                level -= (now - state.since) * rate.per_second
                if level < 0.0:
                    level = 0.0
                state.since = now
            if level + 1 > rate.capacity:
                state.level = level
                return _REFUSED
            state.level = level + 1
        if not metered:
            return _ADMITTED
        windows = state.windows
        window = None if windows is None else windows.get(method)
        return (True, operating.usage(window, now)) if window else _ADMITTED_EMPTY

    async def admit(
        self, caller: Caller, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]:
        return self.admit_now(caller, method, rate, metered, now)

    async def record(self, caller: Caller, method: str, now: float, seconds: float) -> Usage:
        state = self._callers.get(caller)
        if state is None:
            state = self._state(caller, now)
        if state.windows is None:
            state.windows = {}
        return operating.record(state.windows.setdefault(method, {}), now, seconds)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def sweep(self, now: float) -> None:
        """Forget windows whose buckets all expired, then callers left with nothing."""
        for caller, state in list(self._callers.items()):
            if state.windows:
                for method, window in list(state.windows.items()):
                    if not operating.usage(window, now).reset_at:
                        del state.windows[method]
            if not state.windows and state.since + state.level / SLOWEST <= now:
                del self._callers[caller]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._callers))
