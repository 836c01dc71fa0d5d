"""Classifying registration results and scheduling retries (sip-registration.md §5.3, §5.4).

Rules:

* An attempt ends in one of four classes: SUCCESS (2xx), TEMPORARY, PERMANENT or AUTH.
  - TEMPORARY: 408, 480, 500, 502, 503, 504 and every 6xx except 604; also local results:
    502 "Unable to resolve hostname" (DNS), 408 "Request Timeout" (Timer F on every target),
    503 with a transport text (refused, reset, TLS failure).
  - AUTH: 401 and 407 (a second challenge after fresh credentials, or one we cannot answer).
  - PERMANENT: everything else (3xx, other 4xx including 403, 404 and 423, other 5xx, 604).
* The stored reason is the peer's reason phrase verbatim, trimmed to 255 characters.
* Temporary back-off after the n-th failure in a row: 30, 60, 120, 240, 480 s, then 600 s for
  ever, each times a jitter factor uniform in [0.8, 1.2). A Retry-After of 5..3600 s replaces it.
* Permanent and auth back-off: 600, 1800, then 3600 s for ever (no jitter: these are slow).
  Never give up; a configuration change retries at once (the caller resets the count).
* Refresh `max(granted / 2, granted - 40)` seconds after the 2xx, minus a jitter of up to 5 s
  (at most a quarter of the delay).
* While a refresh fails temporarily, retry after `min(temporary back-off, time left / 2)`.
* Start-up spread: a random initial delay of 0..10 s.
* Randomness comes from an injected `random()` returning floats in [0, 1); nothing here reads a
  clock or a global random generator.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

__all__ = [
    "PERMANENT_BACKOFF",
    "REQUEST_TIMEOUT",
    "TEMPORARY_BACKOFF",
    "UNRESOLVABLE",
    "Outcome",
    "classify",
    "initial_delay",
    "permanent_backoff",
    "refresh_delay",
    "refreshing_retry_delay",
    "retry_delay",
    "temporary_backoff",
    "trim_reason",
]

Random = Callable[[], float]

TEMPORARY_BACKOFF: tuple[float, ...] = (30.0, 60.0, 120.0, 240.0, 480.0, 600.0)
PERMANENT_BACKOFF: tuple[float, ...] = (600.0, 1800.0, 3600.0)
JITTER = 0.2
RETRY_AFTER_MIN = 5
RETRY_AFTER_MAX = 3600
REFRESH_MARGIN = 40.0
REFRESH_JITTER = 5.0
INITIAL_DELAY_MAX = 10.0
MAX_REASON_LENGTH = 255

UNRESOLVABLE = (502, "Unable to resolve hostname")
REQUEST_TIMEOUT = (408, "Request Timeout")

TEMPORARY_CODES = frozenset({408, 480, 500, 502, 503, 504})


class Outcome(enum.Enum):
    SUCCESS = "success"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"
    AUTH = "auth"


def classify(status_code: int) -> Outcome:
    """The class of a final status code (local results use the codes in the rules above)."""
    if 200 <= status_code < 300:
        return Outcome.SUCCESS
    if status_code in (401, 407):
        return Outcome.AUTH
    if status_code in TEMPORARY_CODES or (status_code >= 600 and status_code != 604):
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


def trim_reason(reason: str) -> str:
    return reason.strip()[:MAX_REASON_LENGTH]


def temporary_backoff(failures: int, random: Random) -> float:
    """Delay after the `failures`-th temporary failure in a row (1-based)."""
    base = TEMPORARY_BACKOFF[min(max(failures, 1), len(TEMPORARY_BACKOFF)) - 1]
    return base * (1 - JITTER + 2 * JITTER * random())


def permanent_backoff(failures: int) -> float:
    """Delay after the `failures`-th permanent or auth failure in a row (1-based)."""
    return PERMANENT_BACKOFF[min(max(failures, 1), len(PERMANENT_BACKOFF)) - 1]


def retry_delay(
    outcome: Outcome, failures: int, random: Random, retry_after: int | None = None
) -> float:
    """Delay before the next attempt after a failed one."""
    if outcome is Outcome.TEMPORARY:
        if retry_after is not None and RETRY_AFTER_MIN <= retry_after <= RETRY_AFTER_MAX:
            return float(retry_after)
        return temporary_backoff(failures, random)
    return permanent_backoff(failures)


def refresh_delay(granted: float, random: Random | None = None) -> float:
    """Seconds from a 2xx to the refresh of a binding granted for `granted` seconds."""
    delay = max(granted / 2, granted - REFRESH_MARGIN)
    if random is not None:
        delay -= min(REFRESH_JITTER, delay / 4) * random()
    return delay


def refreshing_retry_delay(
    failures: int, random: Random, *, expires_at: float, now: float
) -> float:
    """Delay before retrying a refresh that failed temporarily while the binding still holds."""
    return min(temporary_backoff(failures, random), max(0.0, (expires_at - now) / 2))


def initial_delay(random: Random) -> float:
    """Random start-up spread before a line's first attempt."""
    return INITIAL_DELAY_MAX * random()
