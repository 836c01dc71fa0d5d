"""The REGISTER pacer: caps per provider host and per AOR, the ramp after an outage."""

from __future__ import annotations

import itertools

import pytest

from trunkline.sip.pacing import RegisterPacer


def _most_in_a_second(times: list[float], costs: list[int]) -> int:
    """The most REGISTERs that start inside any window of one second."""
    pairs = sorted(zip(times, costs, strict=True))
    best = 0
    for i, (start, _) in enumerate(pairs):
        best = max(best, sum(c for t, c in pairs[i:] if t < start + 1.0))
    return best


def test_a_queue_of_lines_is_spread_under_the_host_cap():
    draws = itertools.cycle([0.0, 0.3, 0.9, 0.5])
    pacer = RegisterPacer(host_rate=150, random=lambda: next(draws))
    slots = [pacer.reserve("sip.example.com", f"sip:u{n}@example.com", 0.0, 2) for n in range(300)]
    assert slots[0] == 0.0  # nothing queued: at once, no jitter
    assert slots == sorted(slots) and 300 * 2 / 150 - 0.1 <= slots[-1] <= 300 * 2 / 150 + 2
    assert _most_in_a_second(slots, [2] * 300) <= 150 + 2  # at most one attempt over


def test_hosts_have_separate_queues_and_time_drains_them():
    pacer = RegisterPacer(host_rate=10, random=lambda: 0.0)
    assert [pacer.reserve("a.example", f"sip:u{n}@a", 0.0) for n in range(3)] == [0.0, 0.1, 0.2]
    assert pacer.reserve("b.example", "sip:u@b", 0.0) == 0.0
    assert pacer.reserve("a.example", "sip:late@a", 5.0) == 5.0  # the queue has drained


def test_one_aor_gets_at_most_its_attempts_per_second():
    pacer = RegisterPacer(host_rate=1000, aor_rate=5, random=lambda: 0.0)
    slots = [pacer.reserve("sip.example.com", "sip:alice@example.com", 0.0) for _ in range(6)]
    assert slots == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_an_outage_trickles_then_ramps_back_to_the_cap():
    pacer = RegisterPacer(host_rate=100, outage_after=3, trickle=0.05, ramp=10.0)
    host = "sip.example.com"
    pacer.failed(host)
    pacer.failed(host)
    assert pacer.rate(host, 0.0) == 100  # two failures are not an outage
    pacer.failed(host)
    assert pacer.rate(host, 1.0) == pytest.approx(5.0)  # down: probes only
    pacer.succeeded(host, 20.0)  # the first success starts the ramp
    assert pacer.rate(host, 20.0) == pytest.approx(5.0)
    assert pacer.rate(host, 25.0) == pytest.approx(50.0)
    pacer.succeeded(host, 26.0)  # later successes do not restart it
    assert pacer.rate(host, 29.0) == pytest.approx(90.0)
    assert pacer.rate(host, 30.0) == 100
    pacer.succeeded(host, 31.0)
    assert pacer.rate(host, 31.0) == 100


def test_failures_during_the_ramp_send_the_host_down_again():
    pacer = RegisterPacer(host_rate=100, outage_after=2, ramp=10.0)
    host = "sip.example.com"
    pacer.failed(host)
    pacer.failed(host)
    pacer.succeeded(host, 0.0)
    assert pacer.rate(host, 5.0) == pytest.approx(50.0)
    pacer.failed(host)
    pacer.failed(host)
    assert pacer.rate(host, 6.0) == pytest.approx(5.0)


def test_lines_back_from_an_outage_come_on_a_jittered_ramp():
    draws = itertools.cycle([0.1, 0.7, 0.4, 0.9, 0.2])
    pacer = RegisterPacer(host_rate=150, ramp=10.0, random=lambda: next(draws))
    host = "sip.example.com"
    for _ in range(3):
        pacer.failed(host)
    pacer.succeeded(host, 100.0)
    slots = [pacer.reserve(host, f"sip:u{n}@example.com", 100.0, 1) for n in range(1000)]
    first_second = sum(1 for s in slots if s < 101.0)
    assert first_second <= 150 * 0.15  # the ramp starts low, not as a herd
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(slots[1:50])}
    assert len(gaps) > 1  # jittered, not in lockstep
    assert slots[-1] < 100.0 + 10.0 + 1000 / 150 + 1  # and reaches the cap


def test_memory_stays_bounded_and_rates_must_be_positive():
    pacer = RegisterPacer(max_keys=100)
    for n in range(1000):
        pacer.reserve(f"h{n}", f"a{n}", float(n))
    assert len(pacer._aor_next) + len(pacer._host_next) <= 102
    with pytest.raises(ValueError):
        RegisterPacer(host_rate=0)
