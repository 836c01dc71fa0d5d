"""The application clock: the one place, outside ``sip/`` (which is handed its time) and
the engine's network timers, that reads the time.

Rules:

* :meth:`Clock.now` is wall-clock seconds since the epoch. Every expiry check (webhooks,
  authorization codes, access and refresh tokens), every stored timestamp, ``server.time``,
  the ``time`` block of every answer and the limit windows read it. One ``Clock`` is
  shared by the services, ``auth/``, ``limits/``, storage and the dispatcher, so moving
  it moves all of them together.
* It reads its source (``time.time`` unless another is given) plus an offset:
  :meth:`advance` moves the offset, :meth:`set` makes ``now()`` read a given moment at
  once (real time keeps flowing from there), :meth:`use` swaps the source (a test's
  hand-moved clock), and :meth:`real` goes back to the system clock with no offset.
  These are the operations a virtual clock for operators (advance, set, real) maps to.
* Whoever keeps time-driven work (the call simulator) may listen (:meth:`on_change`): it is
  called after every :meth:`advance`, :meth:`set`, :meth:`use` and :meth:`real`.
* :meth:`monotonic` measures elapsed real time for short-lived caches and retry
  back-offs; it never follows the offset, so moving the clock cannot wedge them.
* :meth:`thread_cpu` is the CPU time of the calling thread, for accounting what a piece of
  work costs (the request journal's flushes); it is never a time of day.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Source = Callable[[], float]


class Clock:
    def __init__(self, source: Source = time.time) -> None:
        self._source = source
        self.offset = 0.0
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after the clock was moved (advance, set, use, real)."""
        self._listeners.append(listener)

    def _moved(self) -> None:
        for listener in list(self._listeners):
            listener()

    def now(self) -> float:
        """The application's time (seconds since the epoch)."""
        return self._source() + self.offset

    @staticmethod
    def monotonic() -> float:
        """Real elapsed seconds, for caches and back-offs (never moved)."""
        return time.monotonic()

    @staticmethod
    def thread_cpu() -> float:
        """CPU seconds the calling thread has used (cost accounting, never a time)."""
        return time.thread_time()

    @property
    def virtual(self) -> bool:
        """True while the clock is moved or reads another source."""
        return self.offset != 0 or self._source is not time.time

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self._moved()

    def set(self, timestamp: float) -> None:
        self.offset = timestamp - self._source()
        self._moved()

    def use(self, source: Source) -> None:
        """Read ``source`` from now on, with no offset."""
        self._source = source
        self.offset = 0.0
        self._moved()

    def real(self) -> None:
        """Back to the system clock, with no offset."""
        self.use(time.time)
