"""The REST call observer that counts calls (``rest/record.py`` hands it every record).

Rules:

* A call is counted by method (an emulated name, else ``other``) and HTTP status, and its
  latency observed by method; a ``batch`` command is counted on its own family, without
  latency; a limit's refusal is counted by its error code.
* The hot path touches no metric: a record adds to plain in-process tallies (a counter and,
  per method, the histogram's bucket counts and sum), and the tallies are written to the
  metrics at most every ``FLUSH_SECONDS`` on the event loop, and whenever ``/metrics`` is
  read in this process. In multiprocess mode each write to a metric is a locked write to a
  memory-mapped file (about 5 µs): this keeps that off each call (bench/metrics.py).
"""

from __future__ import annotations

import asyncio
import weakref
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from typing import Any

from trunkline.metrics import families
from trunkline.rest.record import CallRecord

__all__ = ["FLUSH_SECONDS", "LIMIT_ERRORS", "RestMetrics"]

LIMIT_ERRORS = frozenset({"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "OPERATION_TIME_LIMIT"})
OTHER = "other"
FLUSH_SECONDS = 0.5
BOUNDS = families.LATENCY_BUCKETS  # the histogram's upper bounds (+Inf after them)

_live: weakref.WeakSet[RestMetrics] = weakref.WeakSet()  # flushed by `flush_all`


def flush_all() -> None:
    """Write every observer's tallies to the metrics (``/metrics`` calls this first)."""
    for observer in list(_live):
        observer.flush()


class RestMetrics:
    """Counts each answered call (see the rules above)."""

    def __init__(self, emulated: Iterable[str]) -> None:
        self.emulated = frozenset(name.lower() for name in emulated)
        self._counts: Counter[tuple[str, int, bool]] = Counter()
        self._refusals: Counter[str] = Counter()
        # per method: [count in each bucket (the last is +Inf)..., sum of seconds]
        self._latency: dict[str, list[float]] = {}
        self._children: dict[Any, Any] = {}
        self._scheduled = False
        _live.add(self)

    def __call__(self, record: CallRecord) -> None:
        method = record.method if record.method in self.emulated else OTHER
        self._counts[(method, record.http_status, record.batch)] += 1
        if record.error_code in LIMIT_ERRORS:
            self._refusals[record.error_code] += 1
        if not record.batch:
            tally = self._latency.get(method)
            if tally is None:
                tally = self._latency[method] = [0.0] * (len(BOUNDS) + 2)
            tally[bisect_left(BOUNDS, record.seconds)] += 1
            tally[-1] += record.seconds
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a direct call): write at once
            self.flush()
            return
        self._scheduled = True
        loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the tallies to the metrics and start new ones."""
        self._scheduled = False
        counts, self._counts = self._counts, Counter()
        refusals, self._refusals = self._refusals, Counter()
        latency, self._latency = self._latency, {}
        for (method, status, batch), n in counts.items():
            family = families.rest_batch_commands if batch else families.rest_requests
            self._child(family, method, str(status)).inc(n)
        for error, n in refusals.items():
            self._child(families.limit_refusals, error).inc(n)
        for method, tally in latency.items():
            child = self._child(families.rest_latency, method)
            # prometheus-client's Histogram keeps one value per bucket (not cumulative)
            # and one for the sum: add this period's tallies to them.
            for bucket, hits in zip(child._buckets, tally[:-1], strict=True):
                if hits:
                    bucket.inc(hits)
            child._sum.inc(tally[-1])

    def _child(self, family: Any, *labels: str) -> Any:
        key = (family, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child
