"""Authentication-failure throttling for the registrar (sip-registration.md §6).

Rules:

* Keys are opaque strings; the engine uses one per source IP and one per login.
* `limit` failures (default 10) within `window` seconds (300) block the key for `block`
  seconds (600). While blocked, requests from it are dropped silently (no response).
* A success does not clear the failures: a brute-forcer that guesses right after nine misses
  still sees the block as soon as the tenth miss arrives.
* Memory is bounded: at most `max_keys` keys; the least recently touched goes first.
* `now` is passed in; nothing here reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["FailureThrottle"]


class FailureThrottle:
    """Counts recent failures per key and blocks keys that fail too often."""

    def __init__(
        self,
        *,
        limit: int = 10,
        window: float = 300.0,
        block: float = 600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.block = block
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked_until: dict[str, float] = {}
        # The same dict, to read: while it is empty no key is blocked, and a caller may skip
        # `blocked` (and making its key).
        self.blocked_keys: dict[str, float] = self._blocked_until

    def __len__(self) -> int:
        return len(self._failures)

    def blocked(self, key: str, now: float) -> bool:
        """True while `key` must be ignored."""
        until = self._blocked_until.get(key)
        if until is None:
            return False
        if now < until:
            return True
        del self._blocked_until[key]
        return False

    def record_failure(self, key: str, now: float) -> bool:
        """Count one failure; True when this failure blocks the key."""
        times = self._failures.pop(key, None) or deque(maxlen=self.limit)
        self._failures[key] = times
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        while len(self._failures) > self._max_keys:
            evicted, _ = self._failures.popitem(last=False)
            self._blocked_until.pop(evicted, None)
        if len(times) >= self.limit:
            self._blocked_until[key] = now + self.block
            times.clear()
            return True
        return False
