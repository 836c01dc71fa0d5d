"""The deadlines of many lines on one heap, served by one event-loop alarm.

Rules (the supervisor's timers, sip-registration.md §5):

* Each item holds the deadline it is scheduled for (``scheduled``). Pushing a new
  deadline leaves the old heap entry in place; an entry whose deadline is no longer the
  item's is skipped when it reaches the top (lazy deletion), so rescheduling costs one
  push and never a search.
* ``pop_due(now, limit)`` takes at most ``limit`` items whose deadline has come, oldest
  first, and clears their ``scheduled``; the rest stay due for the next pass.
* The alarm wakes on the next multiple of the grid after a deadline (refreshes due in the
  same second go out in one wake-up), or at once for a deadline already due. It is armed
  for the earliest wake-up only: a later deadline never moves it.
* While the owner fires due items (between ``woke`` and ``rearm``) nothing arms the alarm;
  ``rearm`` then arms it once for the earliest deadline left.
* Time comes from the injected clock (the event loop's, in the engine); with ``auto`` off
  nothing is armed and the owner fires deadlines by hand (tests).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Alarm", "Deadlines", "alarm_time"]


class Scheduled(Protocol):
    scheduled: float | None


T = TypeVar("T", bound=Scheduled)


def alarm_time(deadline: float, now: float, grid: float) -> float:
    """When to wake for ``deadline``: the next point of the grid, or at once when due."""
    if grid <= 0 or deadline <= now:
        return deadline
    return math.ceil(deadline / grid) * grid


class Deadlines(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._sequence = itertools.count()

    def push(self, item: T, deadline: float) -> None:
        item.scheduled = deadline
        heapq.heappush(self._heap, (deadline, next(self._sequence), item))

    def next(self) -> float | None:
        """The earliest live deadline (stale entries at the top are dropped)."""
        heap = self._heap
        while heap and heap[0][2].scheduled != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float, limit: int | None) -> list[T]:
        due: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or len(due) < limit):
            deadline, _, item = heapq.heappop(heap)
            if item.scheduled == deadline:
                item.scheduled = None
                due.append(item)
        return due


class Alarm(Generic[T]):
    """:class:`Deadlines` and the one ``loop.call_at`` that wakes their owner (``wake``)."""

    def __init__(
        self, wake: Callable[[], None], clock: Callable[[], float], *, grid: float, auto: bool
    ) -> None:
        self.deadlines: Deadlines[T] = Deadlines()
        self._wake = wake
        self._clock = clock
        self._grid = grid
        self._auto = auto
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def schedule(self, item: T, deadline: float) -> None:
        self.deadlines.push(item, deadline)
        if self._auto:
            at = alarm_time(deadline, self._clock(), self._grid)
            if self._at is None or at < self._at:
                self._arm(at)

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = at
        self._handle = asyncio.get_running_loop().call_at(at, self._wake)

    def woke(self) -> None:
        """The wake-up began: nothing arms the alarm until :meth:`rearm`."""
        self._handle = None
        self._at = -math.inf

    def rearm(self) -> None:
        self._at = None
        deadline = self.deadlines.next()
        if deadline is not None:
            self._arm(alarm_time(deadline, self._clock(), self._grid))

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._at = None
