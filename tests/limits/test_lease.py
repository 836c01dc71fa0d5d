"""Token leases on a shared bucket, on a hand-moved clock.

Every test runs twice: on ``SharedModel`` (the bucket rules in Python) and on
real Redis (the ``LEASE`` script), with several :class:`LeasingBackend` workers
sharing one budget in one process. ``tests/e2e/test_limits_workers.py`` does the
same with two real server processes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.limits.conftest import REDIS_URL, Clock, redis_prefix, require_redis
from trunkline.limits import operating
from trunkline.limits.bucket import STANDARD, Rate
from trunkline.limits.lease import (
    GRACE,
    LEASE_TTL,
    LeaseReply,
    LeaseRequest,
    LeasingBackend,
    SharedModel,
    block_size,
)
from trunkline.limits.operating import Bucket, Usage
from trunkline.limits.shared import BackendUnavailableError, RedisStore

CALLER = (1, "apauth", 7)  # portal, auth type, webhook: the bucket
METHOD = "voximplant.sip.get"
FROZEN = Rate(50, 0.001)  # drains 0.05 units in 50 s: the arithmetic stays whole


class ModelStore:
    """``lease.Store`` on a :class:`SharedModel` held in this process (no Redis)."""

    name = "model"

    def __init__(self, model: SharedModel, windows: dict[Any, dict[int, Bucket]]) -> None:
        self.model = model
        self.windows = windows

    async def lease(self, request: LeaseRequest, worker: str) -> LeaseReply:
        granted = self.model.lease(request, worker)
        if request.op_key is None:
            return LeaseReply(granted)
        window = self.windows.get(request.op_key, {})
        return LeaseReply(granted, operating.usage(window, request.now))

    async def record(self, op_key: Any, now: float, seconds: float) -> Usage:
        return operating.record(self.windows.setdefault(op_key, {}), now, seconds)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class Counting:
    """Wraps a store and counts the trips to it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.name = store.name
        self.trips = 0

    async def lease(self, request: LeaseRequest, worker: str) -> LeaseReply:
        self.trips += 1
        reply: LeaseReply = await self.store.lease(request, worker)
        return reply

    async def record(self, op_key: Any, now: float, seconds: float) -> Usage:
        usage: Usage = await self.store.record(op_key, now, seconds)
        return usage

    async def ping(self) -> None:
        await self.store.ping()

    async def close(self) -> None:
        await self.store.close()


class Down:
    """A store whose every trip fails, as when Redis is away."""

    name = "down"

    async def lease(self, request: LeaseRequest, worker: str) -> LeaseReply:
        raise BackendUnavailableError("Redis is away")


Workers = Callable[[int], list[LeasingBackend]]


@pytest.fixture(params=["model", "redis"])
def shared(request: pytest.FixtureRequest) -> Iterator[tuple[Workers, Clock]]:
    """A factory of workers sharing one budget, and the clock they all read."""
    clock = Clock()
    model, windows = SharedModel(), {}  # type: ignore[var-annotated]
    prefix = redis_prefix()
    if request.param == "redis":
        require_redis()

    def workers(count: int) -> list[LeasingBackend]:
        made = []
        for number in range(count):
            store: Any = (
                RedisStore(REDIS_URL, prefix=prefix)
                if request.param == "redis"
                else ModelStore(model, windows)
            )
            made.append(LeasingBackend(Counting(store), f"w{number}", clock))
        return made

    yield workers, clock


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def call(worker: LeasingBackend, clock: Clock, rate: Rate = STANDARD) -> bool:
    allowed, _ = await worker.admit(CALLER, METHOD, rate, True, clock())
    return allowed


async def until_refused(worker: LeasingBackend, clock: Clock, rate: Rate = FROZEN) -> int:
    """Call until refused (at most 300 calls); how many were admitted."""
    for admitted in range(300):
        if not await call(worker, clock, rate):
            return admitted
    raise AssertionError("never refused")


def trips(worker: LeasingBackend) -> int:
    store = worker.store
    assert isinstance(store, Counting)
    return store.trips


def test_block_size_takes_half_the_room_shared_by_the_workers():
    assert block_size(50, 25, 0) == 25
    assert block_size(50, 25, 1) == 12
    assert block_size(3, 25, 0) == 1
    assert block_size(1, 25, 4) == 1
    assert block_size(0.99, 25, 0) == 0  # full: refuse
    assert block_size(50, 0, 0) == 0  # settle only


def test_one_worker_gets_the_whole_budget_in_few_trips(shared):
    workers, clock = shared

    async def scenario() -> None:
        (worker,) = workers(1)
        answers = [await call(worker, clock) for _ in range(51)]
        assert answers == [True] * 50 + [False]
        assert trips(worker) <= 10  # 25, 12, 6, 3, 2, 1, 1 units, then the refusal
        await worker.close()

    run(scenario)


def test_an_exhausted_lease_sends_the_next_call_to_the_store(shared):
    workers, clock = shared

    async def scenario() -> None:
        (worker,) = workers(1)
        assert await call(worker, clock)
        lease = worker.leases[CALLER]
        assert (lease.units, lease.used, trips(worker)) == (25, 1, 1)
        for _ in range(24):
            assert worker.admit_now(CALLER, METHOD, STANDARD, True, clock()) == (
                True,
                Usage(0.0, None),
            )
        assert trips(worker) == 1
        assert worker.admit_now(CALLER, METHOD, STANDARD, True, clock()) is None  # spent
        assert await call(worker, clock)
        assert trips(worker) == 2 and worker.leases[CALLER].units == 12
        await worker.close()

    run(scenario)


def test_units_held_by_one_worker_are_handed_back(shared):
    workers, clock = shared

    async def scenario() -> None:
        a, b = workers(2)
        assert await call(a, clock, FROZEN)  # a holds 25 units and used 1
        assert await until_refused(b, clock) == 25  # a's 24 unused units are not b's
        await a.close()  # a settles: 1 used, 24 handed back
        assert await until_refused(b, clock) == 24  # the whole budget: 1 (a) + 49 (b)
        await b.close()

    run(scenario)


def test_a_lease_is_not_used_past_its_ttl(shared):
    workers, clock = shared

    async def scenario() -> None:
        a, b = workers(2)
        assert await call(a, clock, FROZEN)
        clock.advance(LEASE_TTL)
        assert a.admit_now(CALLER, METHOD, FROZEN, False, clock() - 0.001) == (True, None)
        assert (
            a.admit_now(CALLER, METHOD, FROZEN, False, clock()) is None
        )  # expired: back to the store
        assert await call(a, clock, FROZEN)  # settles the old lease (1 used), takes a new one
        assert a.leases[CALLER].units == 24  # 48 free: half of it, a alone again
        assert await call(b, clock, FROZEN)
        assert b.leases[CALLER].units == 6  # 24 free, a holds a live lease: a quarter
        await a.close()
        await b.close()

    run(scenario)


def test_a_dead_workers_lease_counts_as_used_after_the_grace(shared):
    workers, clock = shared

    async def scenario() -> None:
        a, b = workers(2)
        assert await call(a, clock, FROZEN)  # a takes 25 and dies without settling
        assert a._sweeper is not None
        a._sweeper.cancel()
        assert await until_refused(b, clock) == 25
        clock.advance(LEASE_TTL + GRACE - 0.01)
        assert not await call(b, clock, FROZEN)  # a's lease is still held
        clock.advance(0.01)
        assert not await call(b, clock, FROZEN)  # reaped, counted as used: still full
        clock.advance(1 / FROZEN.per_second)  # one unit drains
        assert await call(b, clock, FROZEN)
        await b.close()
        await a.store.close()

    run(scenario)


def test_workers_sharing_a_bucket_admit_exactly_the_budget(shared):
    workers, clock = shared

    async def scenario() -> None:
        group = workers(3)
        pick = random.Random(5)
        admitted = 0
        refused_in_a_row: set[int] = set()
        for _ in range(500):
            if len(refused_in_a_row) == len(group):  # every worker is refused
                break
            index = pick.randrange(len(group))
            if await call(group[index], clock, FROZEN):
                admitted += 1
                refused_in_a_row.clear()
            else:
                refused_in_a_row.add(index)
            assert admitted <= 50
        assert len(refused_in_a_row) == len(group)
        assert admitted == 50  # no lease has units left: nothing was lost either
        for worker in group:
            await worker.close()

    run(scenario)


def test_workers_never_admit_more_than_the_bucket_drains(shared):
    workers, clock = shared

    async def scenario() -> None:
        group = workers(3)
        pick = random.Random(11)
        start, admitted = clock(), 0
        for _ in range(400):
            clock.advance(pick.choice([0.0, 0.0, 0.01, 0.05, 0.3]))
            if await call(group[pick.randrange(3)], clock):
                admitted += 1
            # A leaky bucket of 50 at 2/s never admits more than this since it was empty.
            assert admitted <= 50 + 2 * (clock() - start) + 1e-9
        assert admitted >= 50  # and it did admit the burst
        for worker in group:
            await worker.close()

    run(scenario)


def test_operating_usage_is_cached_for_the_refresh_period(shared):
    workers, clock = shared

    async def scenario() -> None:
        a, b = workers(2)
        assert await b.admit(CALLER, METHOD, None, True, clock()) == (True, Usage(0.0, None))
        usage = await a.record(CALLER, METHOD, clock(), 2.0)  # a's own call: written through
        assert usage.seconds == 2.0
        assert (await a.admit(CALLER, METHOD, None, True, clock()))[1] == usage
        assert (await b.admit(CALLER, METHOD, None, True, clock()))[1] == Usage(0.0, None)  # stale
        clock.advance(b.refresh)
        assert (await b.admit(CALLER, METHOD, None, True, clock()))[1] == usage  # refreshed
        await a.close()
        await b.close()

    run(scenario)


def test_a_failed_trip_does_not_lose_the_units_it_reported(shared):
    workers, clock = shared

    async def scenario() -> None:
        (worker,) = workers(1)
        for _ in range(25):
            assert await call(worker, clock, FROZEN)  # one lease of 25, all used
        counting = worker.store
        assert isinstance(counting, Counting)
        real = counting.store

        counting.store = Down()
        with pytest.raises(BackendUnavailableError):
            await call(worker, clock, FROZEN)  # the trip reporting the 25 fails
        counting.store = real
        assert await until_refused(worker, clock) == 25  # the next trip reported them
        await worker.close()

    run(scenario)


def test_a_failed_settle_is_reported_at_the_next_trip(shared):
    workers, clock = shared

    async def scenario() -> None:
        (worker,) = workers(1)
        for _ in range(25):
            assert await call(worker, clock, FROZEN)  # one lease of 25, all used
        counting = worker.store
        assert isinstance(counting, Counting)
        real = counting.store

        counting.store = Down()
        await worker._settle(CALLER, worker.leases[CALLER])  # the TTL's hand-back fails
        counting.store = real
        assert await until_refused(worker, clock) == 25  # not 50: the 25 used still count
        await worker.close()

    run(scenario)
