"""The request-rate leaky bucket (``rest-protocol.md`` §11), with no I/O and no clock.

Rules:

* One bucket per portal and caller (an app's client_id or a webhook).
* Each admitted request adds 1; the level drains continuously at ``per_second``.
* A request that would take the level above ``capacity`` is refused (503
  ``QUERY_LIMIT_EXCEEDED``) and adds nothing, so a client that waits gets in again.
* A ``batch`` is one request, whatever it holds.
* Standard plans: 50, draining 2/s; the Enterprise plan: 250, draining 5/s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: int
    per_second: float


STANDARD = Rate(50, 2.0)
ENTERPRISE = Rate(250, 5.0)


def drained(level: float, since: float, now: float, rate: Rate) -> float:
    """The level at ``now`` of a bucket last at ``level`` at ``since``."""
    elapsed = now - since if now > since else 0.0
    left = level - elapsed * rate.per_second
    return left if left > 0.0 else 0.0


def admit(level: float, since: float, now: float, rate: Rate) -> tuple[bool, float]:
    """(admitted, new level) for one request arriving at ``now``."""
    current = drained(level, since, now, rate)
    if current + 1 > rate.capacity:
        return False, current
    return True, current + 1


# A bucket at ``level`` is empty ``level / SLOWEST`` seconds later, whatever its plan.
SLOWEST = min(STANDARD.per_second, ENTERPRISE.per_second)
