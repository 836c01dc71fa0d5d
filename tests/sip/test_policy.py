"""Classification and back-off tables (sip-registration.md §5.3, §5.4)."""

from __future__ import annotations

import pytest

from trunkline.sip.policy import (
    Outcome,
    classify,
    initial_delay,
    permanent_backoff,
    refresh_delay,
    refreshing_retry_delay,
    retry_delay,
    temporary_backoff,
    trim_reason,
)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (202, Outcome.SUCCESS),
        (401, Outcome.AUTH),
        (407, Outcome.AUTH),
        (408, Outcome.TEMPORARY),
        (480, Outcome.TEMPORARY),
        (500, Outcome.TEMPORARY),
        (502, Outcome.TEMPORARY),
        (503, Outcome.TEMPORARY),
        (504, Outcome.TEMPORARY),
        (600, Outcome.TEMPORARY),
        (603, Outcome.TEMPORARY),
        (604, Outcome.PERMANENT),
        (301, Outcome.PERMANENT),
        (302, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (403, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (405, Outcome.PERMANENT),
        (410, Outcome.PERMANENT),
        (416, Outcome.PERMANENT),
        (420, Outcome.PERMANENT),
        (423, Outcome.PERMANENT),
        (484, Outcome.PERMANENT),
        (501, Outcome.PERMANENT),
        (505, Outcome.PERMANENT),
    ],
)
def test_classify_status_codes(code: int, outcome: Outcome) -> None:
    assert classify(code) is outcome


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 30), (1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (7, 600), (50, 600)],
)
def test_temporary_backoff_table_without_jitter(failures: int, delay: float) -> None:
    assert temporary_backoff(failures, lambda: 0.5) == pytest.approx(delay)


@pytest.mark.parametrize(("random", "factor"), [(0.0, 0.8), (0.25, 0.9), (0.999999, 1.2)])
def test_temporary_backoff_jitter_is_plus_minus_20_percent(random: float, factor: float) -> None:
    assert temporary_backoff(3, lambda: random) == pytest.approx(120 * factor, rel=1e-5)


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 600), (1, 600), (2, 1800), (3, 3600), (9, 3600)]
)
def test_permanent_backoff_table(failures: int, delay: float) -> None:
    assert permanent_backoff(failures) == delay


@pytest.mark.parametrize(
    ("outcome", "failures", "retry_after", "delay"),
    [
        (Outcome.TEMPORARY, 1, None, 30),
        (Outcome.TEMPORARY, 1, 30, 30),
        (Outcome.TEMPORARY, 3, 5, 5),
        (Outcome.TEMPORARY, 3, 3600, 3600),
        (Outcome.TEMPORARY, 3, 4, 120),
        (Outcome.TEMPORARY, 3, 3601, 120),
        (Outcome.PERMANENT, 1, 30, 600),
        (Outcome.AUTH, 2, None, 1800),
    ],
)
def test_retry_delay_honours_retry_after_for_temporary_only(
    outcome: Outcome, failures: int, retry_after: int | None, delay: float
) -> None:
    assert retry_delay(outcome, failures, lambda: 0.5, retry_after) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("granted", "random", "delay"),
    [
        (3600, None, 3560),
        (300, None, 260),
        (120, None, 80),
        (80, None, 40),
        (60, None, 30),
        (3600, 1.0, 3555),
        (3600, 0.0, 3560),
        (10, 1.0, 3.75),
    ],
)
def test_refresh_delay_table(granted: float, random: float | None, delay: float) -> None:
    source = None if random is None else (lambda: random)
    assert refresh_delay(granted, source) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("failures", "expires_at", "now", "delay"),
    [
        (1, 1000.0, 900.0, 30.0),
        (1, 1000.0, 980.0, 10.0),
        (4, 1000.0, 0.0, 240.0),
        (1, 10.0, 20.0, 0.0),
    ],
)
def test_refreshing_retry_delay_uses_half_the_time_left(
    failures: int, expires_at: float, now: float, delay: float
) -> None:
    result = refreshing_retry_delay(failures, lambda: 0.5, expires_at=expires_at, now=now)
    assert result == pytest.approx(delay)


def test_initial_delay_spreads_over_ten_seconds() -> None:
    assert initial_delay(lambda: 0.0) == 0.0
    assert initial_delay(lambda: 0.5) == 5.0


def test_trim_reason_strips_and_caps() -> None:
    assert trim_reason("  Forbidden - bad password ") == "Forbidden - bad password"
    assert len(trim_reason("x" * 300)) == 255
