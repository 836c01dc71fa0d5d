"""The in-process backend: one bucket per caller across its methods, and the sweep."""

from __future__ import annotations

import asyncio

from trunkline.limits import memory
from trunkline.limits.bucket import STANDARD
from trunkline.limits.memory import MemoryBackend
from trunkline.limits.operating import EMPTY, Usage

T0 = 1_780_000_000.0
GET = (1, "apauth", 7, "voximplant.sip.get")
ADD = (1, "apauth", 7, "voximplant.sip.add")
OTHER = (1, "apauth", 8, "voximplant.sip.get")


def test_methods_of_one_caller_share_its_bucket():
    backend = MemoryBackend()
    answers = [backend.admit_now(GET if i % 2 else ADD, STANDARD, True, T0) for i in range(50)]
    assert answers == [(True, EMPTY)] * 50
    assert backend.admit_now(GET, STANDARD, True, T0) == (False, None)
    assert backend.admit_now(ADD, STANDARD, True, T0) == (False, None)
    assert backend.admit_now(OTHER, STANDARD, True, T0) == (True, EMPTY)  # another caller
    assert backend.admit_now(GET, None, True, T0) == (True, EMPTY)  # a batch command: no bucket
    assert backend.admit_now(GET, STANDARD, True, T0 + 0.5) == (True, EMPTY)  # one drained


def test_usage_follows_what_was_recorded():
    backend = MemoryBackend()
    assert backend.admit_now(GET, STANDARD, True, T0) == (True, EMPTY)
    asyncio.run(backend.record(GET, T0 + 1, 2.5))
    assert backend.admit_now(GET, STANDARD, True, T0 + 2) == (True, Usage(2.5, int(T0 + 601)))
    assert backend.admit_now(GET, STANDARD, False, T0 + 2) == (True, None)  # batch itself
    assert backend.admit_now(ADD, STANDARD, True, T0 + 2) == (True, EMPTY)  # per method


def test_sweep_forgets_idle_callers_and_keeps_live_ones(monkeypatch):
    monkeypatch.setattr(memory, "_SWEEP_AT", 4)
    backend = MemoryBackend()
    for _ in range(10):
        backend.admit_now(GET, STANDARD, True, T0)  # level 10: drains in 5 s
    asyncio.run(backend.record(GET, T0, 1.0))  # its window lives 600 s
    backend.admit_now(OTHER, STANDARD, True, T0)  # level 1
    backend.admit_now(ADD, STANDARD, True, T0)  # the GET caller's bucket, level 11
    backend.sweep(T0 + 0.2)  # nothing drained yet
    assert len(backend._levels) == 2
    backend.sweep(T0 + 6)  # both drained
    assert backend._levels == {}
    assert list(backend._windows) == [GET]  # a live window stays
    assert list(backend._entries) == []  # every entry pointed at a forgotten bucket
    # Fresh entries after the sweep: a full bucket again, the window as recorded.
    assert backend.admit_now(GET, STANDARD, True, T0 + 6) == (True, Usage(1.0, int(T0 + 600)))
    answers = [backend.admit_now(ADD, STANDARD, True, T0 + 6)[0] for _ in range(50)]
    assert answers == [True] * 49 + [False]  # GET took one from the same bucket


def test_sweep_runs_when_new_keys_double_the_table(monkeypatch):
    monkeypatch.setattr(memory, "_SWEEP_AT", 4)
    backend = MemoryBackend()
    for caller in range(4):
        backend.admit_now((1, "apauth", caller, "m"), STANDARD, True, T0)
    assert len(backend._entries) == 4
    # Much later every bucket has drained: the next new key sweeps them first.
    backend.admit_now((1, "apauth", 99, "m"), STANDARD, True, T0 + 100)
    assert list(backend._entries) == [(1, "apauth", 99, "m")]
