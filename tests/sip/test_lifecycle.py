"""A cloud line's state machine on a fake clock: status mapping, timers, back-off."""

from __future__ import annotations

import pytest

from trunkline.sip.errors import SipStateError
from trunkline.sip.lifecycle import TRANSITIONS, LineLifecycle, LineState, LineStatus
from trunkline.sip.policy import Outcome


def _line(status_code: int | None = None) -> LineLifecycle:
    return LineLifecycle(lambda: 0.5, status_code=status_code)


def _fire(line: LineLifecycle) -> float:
    """Advance the fake clock to the next timer and fire it; return the time."""
    now = line.get_timer()
    assert now is not None
    assert line.handle_timer(now)
    return now


def test_start_spreads_first_attempt_and_shows_wait() -> None:
    line = _line()
    assert line.status == LineStatus("wait", None, None, None)
    assert line.get_timer() is None
    line.start(100.0)
    assert line.get_timer() == 105.0
    assert not line.handle_timer(104.0)
    assert line.handle_timer(105.0)
    assert line.state is LineState.TRYING
    assert line.status == LineStatus("in_progress", None, None, 105.0)
    assert line.get_timer() is None


def test_start_without_spread_is_immediate() -> None:
    line = _line(status_code=0)
    line.start(7.0, spread=False)
    assert line.get_timer() == 7.0
    _fire(line)
    assert line.status == LineStatus("in_progress", 0, None, 7.0)


def test_success_then_refresh_keeps_last_updated() -> None:
    line = _line()
    line.start(0.0, spread=False)
    _fire(line)
    assert line.attempt_finished(1.0, 200, "OK", Outcome.SUCCESS, granted=300)
    assert line.status == LineStatus("success", 200, "", 1.0)
    assert line.state is LineState.REGISTERED
    assert line.expires_at == 301.0
    assert line.get_timer() == pytest.approx(1.0 + 260 - 2.5)
    now = _fire(line)
    assert line.state is LineState.REFRESHING
    assert line.status.result == "success"
    assert not line.attempt_finished(now + 0.1, 200, "OK", Outcome.SUCCESS, granted=300)
    assert line.status.changed_at == 1.0
    later = _fire(line)
    assert line.attempt_finished(later, 202, "Accepted", Outcome.SUCCESS, granted=300)
    assert line.status.changed_at == later


def test_temporary_failures_back_off_and_keep_error_while_retrying() -> None:
    line = _line()
    line.start(0.0, spread=False)
    _fire(line)
    delays: list[float] = []
    for _ in range(7):
        now = 1000.0 * (len(delays) + 1)
        line.attempt_finished(now, 408, "Request Timeout", Outcome.TEMPORARY)
        assert line.state is LineState.RETRY_WAIT
        assert line.status.result == "error"
        timer = line.get_timer()
        assert timer is not None
        delays.append(timer - now)
        line.handle_timer(timer)
        assert line.state is LineState.TRYING
        assert line.status == LineStatus("error", 408, "Request Timeout", 1000.0)
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    line.attempt_finished(9000.0, 200, "OK", Outcome.SUCCESS, granted=60)
    assert (line.temporary_failures, line.permanent_failures) == (0, 0)


def test_retry_after_replaces_temporary_back_off() -> None:
    line = _line()
    line.start(0.0, spread=False)
    _fire(line)
    line.attempt_finished(10.0, 503, "Service Unavailable", Outcome.TEMPORARY, retry_after=30)
    assert line.get_timer() == 40.0


@pytest.mark.parametrize("outcome", [Outcome.PERMANENT, Outcome.AUTH])
def test_permanent_failures_retry_slowly_for_ever(outcome: Outcome) -> None:
    line = _line()
    line.start(0.0, spread=False)
    _fire(line)
    delays: list[float] = []
    now = 0.0
    for _ in range(5):
        line.attempt_finished(now, 403, "Forbidden", outcome)
        assert line.state is LineState.REJECTED
        timer = line.get_timer()
        assert timer is not None
        delays.append(timer - now)
        now = _fire(line)
    assert delays == [600, 1800, 3600, 3600, 3600]
    assert line.status == LineStatus("error", 403, "Forbidden", 0.0)


def _registered(line: LineLifecycle, granted: float = 300.0) -> float:
    line.start(0.0, spread=False)
    _fire(line)
    line.attempt_finished(0.0, 200, "OK", Outcome.SUCCESS, granted=granted)
    return _fire(line)


def test_refresh_temporary_failure_keeps_success_until_expiry() -> None:
    line = _line()
    now = _registered(line)
    assert not line.attempt_finished(now + 1, 408, "Request Timeout", Outcome.TEMPORARY)
    assert line.state is LineState.REFRESHING
    assert line.status.result == "success"
    expected = now + 1 + min(30.0, (300 - now - 1) / 2)
    assert line.get_timer() == pytest.approx(expected)
    retry = _fire(line)
    assert line.state is LineState.REFRESHING
    line.attempt_finished(retry + 1, 503, "Busy", Outcome.TEMPORARY)
    while line.state is LineState.REFRESHING:
        timer = line.get_timer()
        assert timer is not None
        if line.handle_timer(timer):
            line.attempt_finished(timer + 0.5, 503, "Busy", Outcome.TEMPORARY)
    assert line.state is LineState.RETRY_WAIT
    assert line.status.result == "error"
    assert line.status.status_code == 503


def test_refresh_expiry_fires_from_timer() -> None:
    line = _line()
    now = _registered(line, granted=100.0)
    line.attempt_finished(now, 408, "Request Timeout", Outcome.TEMPORARY)
    line.next_at = 1000.0
    assert line.get_timer() == 100.0
    assert not line.handle_timer(100.0)
    assert line.state is LineState.RETRY_WAIT
    assert line.status == LineStatus("error", 408, "Request Timeout", 100.0)
    assert line.get_timer() == 1000.0


def test_refresh_attempt_ending_after_expiry_goes_to_retry_wait() -> None:
    line = _line()
    now = _registered(line, granted=100.0)
    assert line.attempt_finished(now + 100, 408, "Request Timeout", Outcome.TEMPORARY)
    assert line.state is LineState.RETRY_WAIT
    assert line.expires_at is None


def test_refresh_permanent_failure_rejects_at_once() -> None:
    line = _line()
    now = _registered(line)
    assert line.attempt_finished(now, 403, "Forbidden", Outcome.PERMANENT)
    assert line.state is LineState.REJECTED
    assert line.status.result == "error"


def test_config_change_resets_to_wait_with_code_zero() -> None:
    line = _line()
    now = _registered(line)
    assert line.config_changed(now)
    assert line.state is LineState.WAIT
    assert line.status == LineStatus("wait", 0, None, now)
    assert line.get_timer() == now
    assert not line.in_flight


def test_transport_drop_re_registers_when_bound() -> None:
    line = _line()
    line.start(0.0, spread=False)
    assert not line.transport_dropped()
    _fire(line)
    line.attempt_finished(0.0, 200, "OK", Outcome.SUCCESS, granted=300)
    assert line.transport_dropped()
    assert line.state is LineState.TRYING
    assert line.in_flight
    assert not line.transport_dropped()
    line.attempt_finished(1.0, 200, "OK", Outcome.SUCCESS, granted=300)
    assert line.state is LineState.REGISTERED


def test_stop_clears_timers_and_blocks_config() -> None:
    line = _line()
    line.start(0.0)
    line.stop()
    assert line.state is LineState.STOPPING
    assert line.get_timer() is None
    assert not line.handle_timer(100.0)
    with pytest.raises(SipStateError):
        line.config_changed(1.0)


def test_attempt_finished_without_attempt_raises() -> None:
    with pytest.raises(SipStateError):
        _line().attempt_finished(0.0, 200, "OK", Outcome.SUCCESS, granted=60)


def test_transitions_table_never_leaves_stopping() -> None:
    assert not [key for key in TRANSITIONS if key[0] is LineState.STOPPING]
    assert all(
        (state, "config") in TRANSITIONS for state in LineState if state is not LineState.STOPPING
    )
