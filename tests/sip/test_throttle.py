"""Auth-failure throttling."""

from __future__ import annotations

from trunkline.sip.throttle import FailureThrottle


def test_record_failure_blocks_at_limit_within_window() -> None:
    throttle = FailureThrottle(limit=3, window=300.0, block=600.0)
    assert not throttle.record_failure("ip", 0.0)
    assert not throttle.record_failure("ip", 10.0)
    assert not throttle.blocked("ip", 10.0)
    assert throttle.record_failure("ip", 20.0)
    assert throttle.blocked("ip", 20.0)
    assert throttle.blocked("ip", 619.0)
    assert not throttle.blocked("ip", 620.0)
    assert not throttle.blocked("ip", 621.0)


def test_record_failure_outside_window_does_not_count() -> None:
    throttle = FailureThrottle(limit=3, window=300.0)
    throttle.record_failure("ip", 0.0)
    throttle.record_failure("ip", 100.0)
    assert not throttle.record_failure("ip", 301.0)
    assert throttle.record_failure("ip", 302.0)


def test_keys_are_independent() -> None:
    throttle = FailureThrottle(limit=1)
    assert throttle.record_failure("a", 0.0)
    assert not throttle.blocked("b", 0.0)


def test_memory_is_bounded_by_max_keys() -> None:
    throttle = FailureThrottle(limit=1, max_keys=2)
    for key in ("a", "b", "c"):
        throttle.record_failure(key, 0.0)
    assert len(throttle) == 2
    assert not throttle.blocked("a", 1.0)
    assert throttle.blocked("c", 1.0)


def test_blocked_keys_is_empty_exactly_while_nothing_is_blocked() -> None:
    """The registrar skips `blocked` while `blocked_keys` is empty (engine/registrar.py)."""
    throttle = FailureThrottle(limit=2, block=10.0)
    assert not throttle.blocked_keys
    throttle.record_failure("a", 0.0)
    assert not throttle.blocked_keys and not throttle.blocked("a", 0.0)
    throttle.record_failure("a", 1.0)
    assert throttle.blocked_keys and throttle.blocked("a", 1.0)
    assert not throttle.blocked("a", 11.0)  # its block over, the key is gone
    assert not throttle.blocked_keys
