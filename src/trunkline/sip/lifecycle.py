"""A cloud line's registration life: states, timers and what `voximplant.sip.status` shows.

Rules (sip-registration.md §5.2, §5.4):

* States and the result each shows (`LineResult`, which the engine maps to the domain's
  `RegistrationState`, the STATUS_RESULT of `voximplant.sip.status`):
  WAIT `WAIT` | TRYING `IN_PROGRESS` the first time, otherwise the previous result is kept so
  the UI does not flicker | REGISTERED, REFRESHING `SUCCESS` | RETRY_WAIT, REJECTED `ERROR` |
  STOPPING: unchanged (the line is being deleted).
* STATUS_CODE / ERROR_MESSAGE: `None`/`None` after `sip.add`; 0/`None` after a configuration
  change; the 2xx code and `""` on success; the failure code and reason on error.
* `changed_at` (LAST_UPDATED) moves only when result, code or message change; a refresh that
  stays `success` with the same code leaves it alone.
* Timers: WAIT starts after a random 0..10 s spread (or at once after add/update); REGISTERED
  refreshes at `refresh_delay(granted)`; RETRY_WAIT and REJECTED wait `retry_delay`; a
  temporary failure while REFRESHING retries after `min(back-off, time left / 2)` and keeps
  `success` until `expires_at`, then becomes RETRY_WAIT with the last failure.
* Failure counters (temporary, permanent) count failures in a row and reset on success and on a
  configuration change.
* A dropped TCP/TLS connection while REGISTERED or REFRESHING re-registers at once.
* `status` is what the REST row must show; the engine writes the row whenever it differs from
  what it last wrote (the boolean returns say the same for the common paths).
* `now` is passed in and randomness injected; the transition table is `TRANSITIONS`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trunkline.sip.errors import SipStateError
from trunkline.sip.policy import (
    REQUEST_TIMEOUT,
    Outcome,
    Random,
    initial_delay,
    refresh_delay,
    refreshing_retry_delay,
    retry_delay,
    trim_reason,
)

__all__ = ["TRANSITIONS", "LineLifecycle", "LineResult", "LineState", "LineStatus"]


class LineResult(enum.StrEnum):
    """What a line shows for its registration (the engine maps it for the REST side)."""

    WAIT = "wait"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    ERROR = "error"


class LineState(enum.Enum):
    WAIT = "wait"
    TRYING = "trying"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    RETRY_WAIT = "retry_wait"
    REJECTED = "rejected"
    STOPPING = "stopping"


_L = LineState
# (state, event) -> next state. Events: due (timer fired, an attempt starts), success,
# temporary, permanent (auth failures included), expired, config, dropped.
TRANSITIONS: dict[tuple[LineState, str], LineState] = {
    (_L.WAIT, "due"): _L.TRYING,
    (_L.RETRY_WAIT, "due"): _L.TRYING,
    (_L.REJECTED, "due"): _L.TRYING,
    (_L.REGISTERED, "due"): _L.REFRESHING,
    (_L.REFRESHING, "due"): _L.REFRESHING,
    (_L.TRYING, "success"): _L.REGISTERED,
    (_L.REFRESHING, "success"): _L.REGISTERED,
    (_L.TRYING, "temporary"): _L.RETRY_WAIT,
    (_L.REFRESHING, "temporary"): _L.REFRESHING,
    (_L.TRYING, "permanent"): _L.REJECTED,
    (_L.REFRESHING, "permanent"): _L.REJECTED,
    (_L.REFRESHING, "expired"): _L.RETRY_WAIT,
    (_L.REGISTERED, "dropped"): _L.TRYING,
    (_L.REFRESHING, "dropped"): _L.TRYING,
    **{(state, "config"): _L.WAIT for state in LineState if state is not _L.STOPPING},
}


@dataclass(frozen=True)
class LineStatus:
    """What the REST side shows for the line."""

    result: LineResult
    status_code: int | None
    error_message: str | None
    changed_at: float | None


class LineLifecycle:
    """The per-line state machine the engine's supervisor drives."""

    def __init__(self, random: Random, *, status_code: int | None = None) -> None:
        self._random = random
        self.state = LineState.WAIT
        self.status = LineStatus(LineResult.WAIT, status_code, None, None)
        self.next_at: float | None = None
        self.expires_at: float | None = None
        self.in_flight = False
        self.temporary_failures = 0
        self.permanent_failures = 0
        self._last_failure: tuple[int, str] | None = None

    def _move(self, event: str) -> None:
        next_state = TRANSITIONS.get((self.state, event))
        if next_state is None:
            raise SipStateError(f"no transition from {self.state.value} on {event}")
        self.state = next_state

    def _show(self, now: float, result: LineResult, code: int | None, message: str | None) -> bool:
        status = self.status
        if (result, code, message) == (status.result, status.status_code, status.error_message):
            return False
        self.status = LineStatus(result, code, message, now)
        return True

    def start(self, now: float, *, spread: bool = True) -> None:
        """Schedule the first attempt (spread at start-up, immediate after add/update)."""
        self.next_at = now + (initial_delay(self._random) if spread else 0.0)

    def get_timer(self) -> float | None:
        if self.in_flight or self.state is LineState.STOPPING:
            return None
        if self.state is LineState.REFRESHING and self.expires_at is not None:
            return min(self.next_at or self.expires_at, self.expires_at)
        return self.next_at

    def handle_timer(self, now: float) -> bool:
        """Fire due timers; True when the caller must start an attempt now."""
        timer = self.get_timer()
        if timer is None or now < timer:
            return False
        expires_at = self.expires_at
        if self.state is LineState.REFRESHING and expires_at is not None and now >= expires_at:
            self._expire(now)
            return False
        self._move("due")
        self.in_flight = True
        self.next_at = None
        if self.state is LineState.TRYING and self.status.result == LineResult.WAIT:
            status = self.status
            self._show(now, LineResult.IN_PROGRESS, status.status_code, status.error_message)
        return True

    def _expire(self, now: float) -> None:
        self._move("expired")
        self.expires_at = None
        code, reason = self._last_failure or REQUEST_TIMEOUT
        self._show(now, LineResult.ERROR, code, reason)

    def attempt_finished(
        self,
        now: float,
        status_code: int,
        reason: str,
        outcome: Outcome,
        *,
        granted: float = 0.0,
        retry_after: int | None = None,
    ) -> bool:
        """Record an attempt's outcome; True when the shown status changed (write the row)."""
        if not self.in_flight:
            raise SipStateError("no attempt in flight")
        self.in_flight = False
        reason = trim_reason(reason)
        if outcome is Outcome.SUCCESS:
            self._move("success")
            self.temporary_failures = self.permanent_failures = 0
            self._last_failure = None
            self.expires_at = now + granted
            self.next_at = now + refresh_delay(granted, self._random)
            return self._show(now, LineResult.SUCCESS, status_code, "")
        self._last_failure = (status_code, reason)
        if outcome is Outcome.TEMPORARY:
            self.temporary_failures += 1
            if self.state is LineState.REFRESHING and self.expires_at is not None:
                if now < self.expires_at:
                    self.next_at = now + refreshing_retry_delay(
                        self.temporary_failures,
                        self._random,
                        expires_at=self.expires_at,
                        now=now,
                    )
                    return False
                self._move("expired")
            else:
                self._move("temporary")
            self.expires_at = None
            delay = retry_delay(outcome, self.temporary_failures, self._random, retry_after)
        else:
            self.permanent_failures += 1
            self._move("permanent")
            self.expires_at = None
            delay = retry_delay(outcome, self.permanent_failures, self._random)
        self.next_at = now + delay
        return self._show(now, LineResult.ERROR, status_code, reason)

    def config_changed(self, now: float) -> bool:
        """SERVER/LOGIN/PASSWORD/... changed: back to WAIT with code 0, retry at once."""
        self._move("config")
        self.in_flight = False
        self.temporary_failures = self.permanent_failures = 0
        self._last_failure = None
        self.expires_at = None
        self.next_at = now
        return self._show(now, LineResult.WAIT, 0, None)

    def transport_dropped(self) -> bool:
        """The TCP/TLS connection of a live binding dropped; True: start an attempt now."""
        if self.state not in (LineState.REGISTERED, LineState.REFRESHING) or self.in_flight:
            return False
        self._move("dropped")
        self.in_flight = True
        self.next_at = None
        return True

    def stop(self) -> None:
        """The line is being deleted; no more timers."""
        self.state = LineState.STOPPING
        self.next_at = None
        self.in_flight = False
