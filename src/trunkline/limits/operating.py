"""Operating-time accounting (``rest-protocol.md`` §12), with no I/O and no clock.

Rules:

* Key: portal + auth type (``oauth``/``apauth``) + app or webhook + method;
  ``batch`` itself is not counted, each of its sub-calls is.
* Ten one-minute buckets: a finished call that took more than 0.1 s adds its
  wall time to the bucket of the minute it finished in (``floor(now / 60)``).
  A bucket expires 600 s after the first call recorded in it.
* Before a call runs: when the sum of the live buckets exceeds the limit (420 s
  by default), the call is refused with 429 ``OPERATION_TIME_LIMIT``. The call
  that pushes the sum over the limit still completes.
* Every success reports ``operating`` (the sum, including the call itself when
  it counted) and ``operating_reset_at`` (when the oldest live bucket expires;
  with none, the envelope uses ``int(start) + 600``).
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 600  # seconds a bucket lives after its first call
MINUTE = 60
THRESHOLD = 0.1  # calls this fast or faster are not counted
DEFAULT_LIMIT = 420.0


@dataclass(slots=True)
class Bucket:
    first_at: float  # when the first counted call landed in this minute
    seconds: float


@dataclass(frozen=True, slots=True)
class Usage:
    seconds: float  # the sum of the live buckets
    reset_at: int | None  # when the oldest live bucket expires; None: no bucket

    def blocked(self, limit: float) -> bool:
        return self.seconds > limit


EMPTY = Usage(0.0, None)


def usage(buckets: dict[int, Bucket], now: float) -> Usage:
    """Drop the expired buckets (in place) and sum the rest."""
    if not buckets:
        return EMPTY
    total = 0.0
    oldest: float | None = None
    for minute in list(buckets):
        bucket = buckets[minute]
        if bucket.first_at + WINDOW <= now:
            del buckets[minute]
            continue
        total += bucket.seconds
        if oldest is None or bucket.first_at < oldest:
            oldest = bucket.first_at
    return Usage(total, None if oldest is None else int(oldest + WINDOW))


def counts(seconds: float) -> bool:
    return seconds > THRESHOLD


def record(buckets: dict[int, Bucket], now: float, seconds: float) -> Usage:
    """Add a finished call's time (when it counts) and return the new usage."""
    if counts(seconds):
        minute = int(now // MINUTE)
        bucket = buckets.get(minute)
        if bucket is None or bucket.first_at + WINDOW <= now:
            buckets[minute] = Bucket(now, seconds)
        else:
            bucket.seconds += seconds
    return usage(buckets, now)
