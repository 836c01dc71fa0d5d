"""The in-process backend: one bucket per caller across its methods, and the sweep."""

from __future__ import annotations

import asyncio

from trunkline.limits import memory
from trunkline.limits.bucket import STANDARD
from trunkline.limits.memory import MemoryBackend
from trunkline.limits.operating import EMPTY, Usage

T0 = 1_780_000_000.0
CALLER = (1, "apauth", 7)
OTHER = (1, "apauth", 8)
GET, ADD = "voximplant.sip.get", "voximplant.sip.add"


def test_methods_of_one_caller_share_its_bucket():
    backend = MemoryBackend()
    answers = [
        backend.admit_now(CALLER, GET if i % 2 else ADD, STANDARD, True, T0) for i in range(50)
    ]
    assert answers == [(True, EMPTY)] * 50
    assert backend.admit_now(CALLER, GET, STANDARD, True, T0) == (False, None)
    assert backend.admit_now(CALLER, ADD, STANDARD, True, T0) == (False, None)
    assert backend.admit_now(OTHER, GET, STANDARD, True, T0) == (True, EMPTY)  # another caller
    assert backend.admit_now(CALLER, GET, None, True, T0) == (True, EMPTY)  # batch command
    assert backend.admit_now(CALLER, GET, STANDARD, True, T0 + 0.5) == (True, EMPTY)  # drained 1


def test_usage_follows_what_was_recorded():
    backend = MemoryBackend()
    assert backend.admit_now(CALLER, GET, STANDARD, True, T0) == (True, EMPTY)
    asyncio.run(backend.record(CALLER, GET, T0 + 1, 2.5))
    counted = (True, Usage(2.5, int(T0 + 601)))
    assert backend.admit_now(CALLER, GET, STANDARD, True, T0 + 2) == counted
    assert backend.admit_now(CALLER, GET, STANDARD, False, T0 + 2) == (True, None)  # batch
    assert backend.admit_now(CALLER, ADD, STANDARD, True, T0 + 2) == (True, EMPTY)  # per method


def test_sweep_forgets_idle_callers_and_keeps_live_ones():
    backend = MemoryBackend()
    for _ in range(10):
        backend.admit_now(CALLER, GET, STANDARD, True, T0)  # level 10: drains in 5 s
    asyncio.run(backend.record(CALLER, ADD, T0, 1.0))  # its window lives 600 s
    backend.admit_now(OTHER, GET, STANDARD, True, T0)  # level 1: drains in 0.5 s
    backend.sweep(T0 + 0.2)  # nothing drained yet
    assert len(backend._callers) == 2
    backend.sweep(T0 + 6)  # both drained; CALLER keeps its live window
    assert list(backend._callers) == [CALLER]
    assert backend.admit_now(CALLER, ADD, STANDARD, True, T0 + 6) == (
        True,
        Usage(1.0, int(T0 + 600)),
    )
    answers = [backend.admit_now(CALLER, GET, STANDARD, True, T0 + 6)[0] for _ in range(50)]
    assert answers == [True] * 49 + [False]  # a drained bucket: ADD took one, GET the rest
    backend.sweep(T0 + 700)  # the window expired and the bucket drained
    assert backend._callers == {}


def test_sweep_runs_when_new_callers_double_the_table(monkeypatch):
    monkeypatch.setattr(memory, "_SWEEP_AT", 4)
    backend = MemoryBackend()
    for caller in range(4):
        backend.admit_now((1, "apauth", caller), GET, STANDARD, True, T0)
    assert len(backend._callers) == 4
    # Much later every bucket has drained: the next new caller sweeps them first.
    backend.admit_now((1, "apauth", 99), GET, STANDARD, True, T0 + 100)
    assert list(backend._callers) == [(1, "apauth", 99)]
