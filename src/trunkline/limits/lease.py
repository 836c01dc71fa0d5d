"""A worker's side of the shared limiters: token leases and a cached operating usage.

Going to Redis for every call costs more CPU than the call itself, so a worker
takes the request-rate bucket's tokens in small blocks (leases) and decides most
calls locally; it also keeps each operating key's usage for a short while.

The request-rate bucket (shared side, ``shared.LEASE`` in Lua, ``SharedModel``
below in Python; both implement the same rules):

* the bucket holds ``level`` (drains at the rate) and ``held`` (units leased to
  workers and not yet settled; does not drain);
* a lease of ``k`` units is granted only when ``level + held + k <= capacity``;
  ``k`` is chosen by the shared side from the free room and the number of other
  workers holding a live lease on the bucket (``others``):
  ``room // (2 * (others + 1))``, at least 1, at most the ``want`` the worker asks
  for (:data:`MAX_BLOCK`, 25); 0 when ``room < 1`` (the call is refused: 503). So
  leases are large while the bucket is empty and one unit when it is nearly full;
* a worker settles its lease at its next trip to the shared side for that bucket,
  or once the lease's TTL (:data:`LEASE_TTL`) has ended (a timer looks every TTL,
  so at most two TTLs after the grant): the units it used move from
  ``held`` into ``level`` (and start to drain then), the others are handed back;
* a lease its worker never settled (the worker died) is counted as fully used
  :data:`GRACE` seconds after its TTL.

Bounds. Units used inside a lease enter the draining level at settlement, never
earlier than the calls they admitted, and units are never counted as free before
their worker says so: the shared bucket never admits more than one leaky bucket
of the same size would (``tests/limits/test_lease.py`` checks this against the
Lua script and the model). It may admit fewer:

* at most the units other workers hold unused in leases at that moment: each at
  most 25 and half the free room at its grant, handed back at that worker's next
  trip for the bucket or at most ``2 * LEASE_TTL`` (2 s) after the grant;
* used units start draining at most ``2 * LEASE_TTL`` late, so a bucket filled by
  a burst may refuse for up to ``2 * LEASE_TTL * rate`` units (4 on the standard
  plan) longer than an exact one. A burst on an empty bucket through one worker
  is admitted whole; through several, whole once every lease is used up or
  handed back.

The operating usage of a key is cached per worker for :data:`USAGE_REFRESH`
seconds (and never past its ``reset_at``). A worker writes its own counted calls
(over 0.1 s) through at once and caches the answer, so the figure it reports and
checks misses at most what other workers counted in the last ``USAGE_REFRESH``
seconds; a key over the limit on another worker is refused here at most that late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from trunkline.limits.bucket import Rate, drained
from trunkline.limits.operating import Usage

log = logging.getLogger("trunkline.limits")

MAX_BLOCK = 25  # the most units one lease holds
LEASE_TTL = 1.0  # seconds a lease may be used
GRACE = 5.0  # an unsettled lease counts as used this long after its TTL
USAGE_REFRESH = 0.5  # seconds a cached operating usage is trusted
_SWEEP_EVERY = 4096  # trips between two sweeps of the usage cache


def block_size(room: float, want: int, others: int) -> int:
    """Units granted out of ``room`` free ones (0: refuse the call).

    ``others``: how many other workers hold a live lease on this bucket. A lease
    takes at most half the room, less the more workers share the bucket
    (``room // (2 * (others + 1))``), at least 1, at most ``want``.
    """
    if want <= 0 or room < 1:
        return 0
    return max(1, min(want, int(room // (2 * (others + 1)))))


@dataclass(slots=True)
class Lease:
    units: int
    expires: float
    rate: Rate
    used: int = 0


def _usable(lease: Lease | None, now: float) -> bool:
    return lease is not None and lease.used < lease.units and now < lease.expires


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """One trip to the shared side: settle and/or lease on a bucket, read a usage."""

    now: float
    rate_key: Hashable | None = None  # the caller; None: no bucket work
    rate: Rate | None = None
    used: int = 0  # units used of this worker's lease on ``rate_key`` (settled now)
    want: int = 0  # units asked for (0: settle only)
    op_key: Hashable | None = None  # (caller, method); None: no usage read


@dataclass(frozen=True, slots=True)
class LeaseReply:
    granted: int = 0
    usage: Usage | None = None


class Store(Protocol):
    """The shared side (Redis in production; ``shared.RedisStore``)."""

    name: str

    async def lease(self, request: LeaseRequest, worker: str) -> LeaseReply: ...

    async def record(self, op_key: Hashable, now: float, seconds: float) -> Usage: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Cached:
    usage: Usage
    until: float


class LeasingBackend:
    """Both limiters of one worker over a shared :class:`Store` (``guard.Backend``)."""

    shared = True

    def __init__(
        self,
        store: Store,
        worker: str,
        clock: Callable[[], float],
        *,
        ttl: float = LEASE_TTL,
        refresh: float = USAGE_REFRESH,
        max_block: int = MAX_BLOCK,
    ) -> None:
        self.store = store
        self.name = store.name
        self.worker = worker  # this worker's name in the shared buckets
        self.clock = clock
        self.ttl = ttl
        self.refresh = refresh
        self.max_block = max_block
        self.leases: dict[Hashable, Lease] = {}
        self.usages: dict[Hashable, _Cached] = {}
        self._busy: dict[Hashable, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        # Units used of a lease whose settling trip failed: the shared side may still
        # hold that lease, so the next trip reports them (counting them twice at
        # worst, if the failed trip did reach Redis: never too few).
        self._unsettled: dict[Hashable, int] = {}
        self._trips = 0

    def admit_now(
        self, caller: Hashable, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None] | None:
        """Decide locally when the lease and the cached usage allow it; None: ask the store."""
        usage = None
        if metered:
            cached = self.usages.get((caller, method))
            if cached is None or now >= cached.until:
                return None
            usage = cached.usage
        if rate is not None:
            lease = self.leases.get(caller)
            if lease is None or lease.used >= lease.units or now >= lease.expires:
                return None
            lease.used += 1
        return True, usage

    async def admit(
        self, caller: Hashable, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]:
        verdict = self.admit_now(caller, method, rate, metered, now)
        if verdict is not None:
            return verdict
        op_key = (caller, method) if metered else None
        if rate is None:
            return True, await self._usage(op_key, now)
        while (busy := self._busy.get(caller)) is not None:
            await asyncio.shield(busy)  # another call of this worker is at the store
            verdict = self.admit_now(caller, method, rate, metered, now)
            if verdict is not None:
                return verdict
        if _usable(self.leases.get(caller), now):
            usage = await self._usage(op_key, now)  # only the usage was stale
            lease = self.leases.get(caller)
            if lease is not None and _usable(lease, now):
                lease.used += 1
                return True, usage
        return await self._lease(caller, rate, op_key, now)

    async def _usage(self, op_key: Hashable | None, now: float) -> Usage | None:
        if op_key is None:
            return None
        reply = await self.store.lease(LeaseRequest(now, op_key=op_key), self.worker)
        return self._cache(op_key, reply.usage, now)

    def _cache(self, op_key: Hashable | None, usage: Usage | None, now: float) -> Usage | None:
        self._trips += 1
        if self._trips >= _SWEEP_EVERY:
            self._trips = 0
            self.usages = {k: c for k, c in self.usages.items() if c.until > now}
        if op_key is None or usage is None:
            return usage
        until = now + self.refresh
        if usage.reset_at is not None and usage.reset_at < until:
            until = usage.reset_at
        self.usages[op_key] = _Cached(usage, until)
        return usage

    async def _lease(
        self, rate_key: Hashable, rate: Rate, op_key: Hashable | None, now: float
    ) -> tuple[bool, Usage | None]:
        """Settle this worker's lease on ``rate_key`` and ask for the next one."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._busy[rate_key] = done
        old = self.leases.pop(rate_key, None)  # never used again, whatever happens
        used = (0 if old is None else old.used) + self._unsettled.pop(rate_key, 0)
        request = LeaseRequest(now, rate_key, rate, used, self.max_block, op_key)
        try:
            reply = await self.store.lease(request, self.worker)
        except BaseException:
            self._unsettled[rate_key] = used  # reported again at the next trip
            raise
        finally:
            del self._busy[rate_key]
            done.set_result(None)
        usage = self._cache(op_key, reply.usage, now)
        if reply.granted < 1:
            return False, None
        lease = Lease(reply.granted, now + self.ttl, rate, used=1)
        self.leases[rate_key] = lease
        self._expire_later()
        return True, usage

    def _expire_later(self) -> None:
        """Hand leases back once their TTL has ended (one timer for all, every TTL)."""
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self.ttl, self._expired)

    def _expired(self) -> None:
        self._sweeper = None
        now = self.clock()
        for rate_key, lease in list(self.leases.items()):
            if lease.expires <= now and rate_key not in self._busy:
                task = asyncio.ensure_future(self._settle(rate_key, lease))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if self.leases:
            self._expire_later()

    async def _settle(self, rate_key: Hashable, lease: Lease) -> None:
        if self.leases.get(rate_key) is not lease:
            return
        del self.leases[rate_key]
        used = lease.used + self._unsettled.pop(rate_key, 0)
        request = LeaseRequest(self.clock(), rate_key, lease.rate, used)
        try:
            await self.store.lease(request, self.worker)
        except Exception as exc:  # reported again at the next trip, or reaped after the grace
            self._unsettled[rate_key] = used
            log.debug("limits: could not hand a lease back (%s)", exc)

    async def record(self, caller: Hashable, method: str, now: float, seconds: float) -> Usage:
        op_key = (caller, method)
        usage = await self.store.record(op_key, now, seconds)
        self._cache(op_key, usage, now)
        return usage

    async def ping(self) -> None:
        await self.store.ping()

    async def close(self) -> None:
        """Hand every lease back, then close the store."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        settling = [self._settle(key, lease) for key, lease in list(self.leases.items())]
        if settling:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*settling), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        await self.store.close()


@dataclass(slots=True)
class _Bucket:
    level: float = 0.0
    at: float = 0.0
    held: int = 0
    leases: dict[str, tuple[int, float]] = field(default_factory=dict)  # worker -> units, expires


class SharedModel:
    """The bucket rules of ``shared.LEASE`` in Python, on one process's memory.

    It is the reference the Lua script is tested against, and lets tests run
    several :class:`LeasingBackend` workers on one budget without Redis.
    """

    def __init__(self, *, ttl: float = LEASE_TTL, grace: float = GRACE) -> None:
        self.ttl = ttl
        self.grace = grace
        self.buckets: dict[Hashable, _Bucket] = {}

    def lease(self, request: LeaseRequest, worker: str) -> int:
        if request.rate_key is None or request.rate is None:
            return 0
        now, rate = request.now, request.rate
        bucket = self.buckets.setdefault(request.rate_key, _Bucket(at=now))
        bucket.level = drained(bucket.level, bucket.at, now, rate)
        bucket.at = max(bucket.at, now)
        for who, (units, expires) in list(bucket.leases.items()):
            if who == worker:
                bucket.held -= units
                bucket.level += min(max(request.used, 0), units)
            elif expires + self.grace <= now:
                bucket.held -= units
                bucket.level += units
            else:
                continue
            del bucket.leases[who]
        bucket.held = max(bucket.held, 0)
        others = sum(1 for _, expires in bucket.leases.values() if expires > now)
        granted = block_size(rate.capacity - bucket.level - bucket.held, request.want, others)
        if granted:
            bucket.held += granted
            bucket.leases[worker] = (granted, now + self.ttl)
        return granted
