"""The sans-IO core: the leaky bucket and the operating-time window, clock passed in."""

from __future__ import annotations

import pytest

from trunkline.limits import operating
from trunkline.limits.bucket import ENTERPRISE, STANDARD, Rate, admit, drained
from trunkline.limits.operating import Bucket, Usage

T0 = 1_780_000_000.0


def burst(rate: Rate, count: int, now: float = T0) -> tuple[list[bool], float]:
    level, since, answers = 0.0, now, []
    for _ in range(count):
        allowed, level = admit(level, since, now, rate)
        since = now
        answers.append(allowed)
    return answers, level


def test_admit_standard_burst_of_fifty_then_refuses():
    answers, level = burst(STANDARD, 51)
    assert answers == [True] * 50 + [False]
    assert level == 50


def test_admit_enterprise_burst_of_two_hundred_fifty():
    answers, _ = burst(ENTERPRISE, 251)
    assert answers.count(True) == 250 and answers[-1] is False


def test_admit_refused_request_adds_nothing():
    assert admit(50, T0, T0, STANDARD) == (False, 50)


def test_drained_leaks_at_the_rate_and_stops_at_zero():
    assert drained(50, T0, T0 + 1, STANDARD) == 48
    assert drained(50, T0, T0 + 0.25, STANDARD) == 49.5
    assert drained(3, T0, T0 + 60, STANDARD) == 0
    assert drained(10, T0, T0 - 5, STANDARD) == 10  # a clock going back drains nothing


def test_admit_after_one_second_lets_two_more_in():
    level, since = 50.0, T0
    answers = []
    for _ in range(3):
        allowed, level = admit(level, since, T0 + 1, STANDARD)
        since = T0 + 1
        answers.append(allowed)
    assert answers == [True, True, False]


def test_usage_of_no_buckets_is_empty():
    assert operating.usage({}, T0) == Usage(0.0, None)


def test_record_ignores_calls_of_a_tenth_of_a_second_or_less():
    buckets: dict[int, Bucket] = {}
    assert operating.record(buckets, T0, 0.1) == Usage(0.0, None)
    assert buckets == {}


def test_record_sums_a_minute_and_resets_600_s_after_its_first_call():
    buckets: dict[int, Bucket] = {}
    operating.record(buckets, T0 + 1, 0.5)
    usage = operating.record(buckets, T0 + 2, 0.25)
    assert usage == Usage(0.75, int(T0 + 1 + 600))
    assert len(buckets) == 1


def test_record_uses_one_bucket_per_minute_and_reports_the_oldest():
    buckets: dict[int, Bucket] = {}
    operating.record(buckets, T0, 1.0)
    usage = operating.record(buckets, T0 + 120, 2.0)
    assert usage == Usage(3.0, int(T0 + 600))
    assert len(buckets) == 2


def test_usage_drops_a_bucket_600_s_after_its_first_call():
    buckets: dict[int, Bucket] = {}
    operating.record(buckets, T0, 1.0)
    operating.record(buckets, T0 + 120, 2.0)
    assert operating.usage(buckets, T0 + 599.9).seconds == 3.0
    assert operating.usage(buckets, T0 + 600) == Usage(2.0, int(T0 + 720))
    assert operating.usage(buckets, T0 + 720) == Usage(0.0, None)
    assert buckets == {}


@pytest.mark.parametrize(("seconds", "blocked"), [(420.0, False), (420.01, True)])
def test_blocked_only_above_the_limit(seconds, blocked):
    assert Usage(seconds, None).blocked(420) is blocked
