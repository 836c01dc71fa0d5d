"""The application clock: one source of time, moved by offset or by a source of its own."""

from __future__ import annotations

import time

from trunkline.domain.clock import Clock


def test_reads_the_system_clock_by_default():
    clock = Clock()
    before = time.time()
    assert before <= clock.now() <= time.time()
    assert not clock.virtual


def test_advance_moves_now_and_keeps_it_flowing():
    ticks = iter([100.0, 100.5, 101.0])
    clock = Clock(lambda: next(ticks))
    clock.advance(3600)
    assert clock.now() == 3700.0
    assert clock.now() == 3700.5
    assert clock.virtual


def test_set_reads_the_given_moment_at_once():
    now = [50.0]
    clock = Clock(lambda: now[0])
    clock.set(2_000_000_000.0)
    assert clock.now() == 2_000_000_000.0
    now[0] += 2
    assert clock.now() == 2_000_000_002.0


def test_use_swaps_the_source_and_real_goes_back():
    clock = Clock()
    clock.advance(100)
    clock.use(lambda: 7.0)
    assert clock.now() == 7.0  # the offset goes with the old source
    clock.real()
    assert not clock.virtual
    assert abs(clock.now() - time.time()) < 1


def test_monotonic_never_follows_the_offset():
    clock = Clock()
    before = clock.monotonic()
    clock.advance(-10_000)
    assert clock.monotonic() >= before


def test_a_bound_now_follows_later_moves():
    clock = Clock(lambda: 10.0)
    now = clock.now  # what the limits and the control plane are handed
    clock.advance(5)
    assert now() == 15.0
    clock.use(lambda: 1.0)
    assert now() == 1.0
