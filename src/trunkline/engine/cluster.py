"""This engine node's membership of the cluster: its lease, the buckets it owns, its beat.

Rules (the tables are in storage/cluster.py, the spread in domain/buckets.py):

* `join` adds the node under a fresh random id with a lease of `lease` seconds and beats
  once, so the node knows its buckets before it loads a line.
* The lease is renewed every `lease / 10` seconds on its own (`renew`, the engine's
  renewer), so a beat that takes long does not let it run out.
* A beat, every `lease / 10` seconds: renew the lease, read the live nodes, release the
  owned buckets that rendezvous hashing now gives to another live node (the engine has
  dropped their lines first), claim the buckets it gives to this node that nobody live
  owns. `beat` answers what was gained (bucket -> the previous owner) and what was lost.
  Buckets claimed from another node are kept in `taken`: their lines clear first.
* Local fencing: the node trusts its lease only until `sent + lease - margin` on the
  engine's monotonic clock, where `sent` is when the renewal that succeeded was sent. The
  database's lease ends at least `margin` later, so a node cut off from the database stops
  sending REGISTERs (`valid()` False, `on_lapse` called by a timer that needs no database)
  before anyone may claim its buckets.
* A lapsed node (a renewal refused, or the local lease ran out) forgets every bucket and
  joins again under a new id at its next beat; database calls that hang give up after half
  a lease. A renewal that succeeds after the local lease ran out (the answer came late)
  does not bring the old id back: the engine has dropped its lines, so the beat joins
  again at once and every bucket it then holds counts as gained (its lines load again).
* `leave` (clean stop) releases every bucket at once: survivors take them at their next beat.
* A node that died without leaving keeps its row (`trunkline engine status` shows it, lease
  negative) for `DEAD_KEPT` seconds; then the first live node to beat deletes it (a sweep at
  most every `SWEEP_EVERY` seconds). Its buckets never needed the row: a bucket whose owner
  is not live is free to claim.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from trunkline.domain.buckets import BUCKETS, bucket_of, plan
from trunkline.storage.cluster import ClusterRepository

__all__ = ["ClusterNode"]

log = logging.getLogger("trunkline.engine")
T = TypeVar("T")
BUCKET_MEMO = 1_000_000  # lines whose bucket is remembered (about 150 bytes each)
DEAD_KEPT = 3600.0  # seconds a dead node's row is kept after its lease ran out
SWEEP_EVERY = 60.0  # seconds between two sweeps of dead node rows by one node


class ClusterNode:
    def __init__(
        self,
        repository: ClusterRepository,
        *,
        lease: float,
        address: str,
        clock: Callable[[], float],
        on_lapse: Callable[[], None],
    ) -> None:
        self.repository = repository
        self.lease = lease
        self.margin = max(0.2, lease / 5)
        self.address = address
        self._clock = clock
        self._on_lapse = on_lapse
        self.node_id = ""
        self.tokens: dict[int, int] = {}  # bucket -> fencing token, of the buckets owned
        self.taken: set[int] = set()  # owned buckets claimed from another node (clear first)
        self.valid_until = 0.0
        self.lapsed = True
        self._timer: asyncio.TimerHandle | None = None
        self.stats = {"joins": 0, "claimed": 0, "released": 0, "lapses": 0, "swept": 0}
        self._swept_at = float("-inf")
        self._buckets: dict[tuple[int, int], int] = {}

    @property
    def interval(self) -> float:
        return self.lease / 10

    def valid(self) -> bool:
        """True while the lease is known to run (REGISTERs may be sent)."""
        return not self.lapsed and self._clock() < self.valid_until

    def bucket(self, key: tuple[int, int]) -> int:
        """`bucket_of`, remembered: the poll asks it of every cloud line every few seconds
        (a BLAKE2 hash each time was a tenth of a core per node with 100,000 lines)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= BUCKET_MEMO:
                self._buckets.clear()
            bucket = self._buckets[key] = bucket_of(*key)
        return bucket

    def owns(self, key: tuple[int, int]) -> bool:
        return self.bucket(key) in self.tokens

    def taken_over(self, key: tuple[int, int]) -> bool:
        """True when the line's bucket was claimed from another node (its binding may stay)."""
        return self.bucket(key) in self.taken

    def fence(self, key: tuple[int, int]) -> tuple[int, str, int] | None:
        """(bucket, node, token) a write of this line must carry; None: not ours."""
        bucket = self.bucket(key)
        token = self.tokens.get(bucket)
        return None if token is None else (bucket, self.node_id, token)

    async def _bounded(self, call: Awaitable[T]) -> T:
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives
        # as the call completes, and the beat would then outlive the node's stop.
        async with asyncio.timeout(self.lease / 2):
            return await call

    async def join(self) -> dict[int, str | None]:
        """Join under a new id and beat once; the buckets gained."""
        self.node_id = secrets.token_hex(8)
        sent = self._clock()
        await self._bounded(self.repository.join(self.node_id, self.address, self.lease, BUCKETS))
        self.stats["joins"] += 1
        self.tokens = {}
        self._renewed(sent)
        gained, _ = await self.beat()
        return gained

    async def renew(self) -> bool:
        """Renew the lease alone (the engine's renewer, between beats); True when it runs."""
        if self.lapsed:
            return False
        lapses, node, sent = self.stats["lapses"], self.node_id, self._clock()
        renewed = await self._bounded(self.repository.renew(node, self.lease))
        if self.stats["lapses"] != lapses or node != self.node_id:
            return False  # ran out (or joined again) while the renewal was on its way
        if not renewed:
            self.valid_until = 0.0
            self._lapse()
            return False
        self._renewed(sent)
        return True

    def _renewed(self, sent: float) -> None:
        until = sent + self.lease - self.margin
        if not self.lapsed and until <= self.valid_until:
            return  # an older renewal answered after a newer one
        self.lapsed = False
        self.valid_until = until
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self.valid_until, self._lapse)

    def _lapse(self) -> None:
        self._timer = None
        if self.lapsed:
            return
        if self._clock() < self.valid_until:  # renewed meanwhile (a late timer)
            return
        log.warning("cluster lease of node %s ran out: its lines stop here", self.node_id)
        self.lapsed = True
        self.stats["lapses"] += 1
        self.tokens = {}
        self._on_lapse()

    async def beat(
        self, before_release: Callable[[set[int]], None] | None = None
    ) -> tuple[dict[int, str | None], set[int]]:
        """One beat (see the rules); (gained bucket -> previous owner, lost buckets)."""
        if self.lapsed:
            return await self.join(), set()
        lapses = self.stats["lapses"]
        if not await self.renew():  # refused, or ran out while on its way: the lines are gone
            return await self.join(), set()
        live = await self._bounded(self.repository.live_nodes())
        mine = {bucket for bucket, node in plan(live).items() if node == self.node_id}
        owned = await self._bounded(self.repository.owned(self.node_id))
        if self.stats["lapses"] != lapses:
            return await self.join(), set()
        lost = set(self.tokens) - set(owned)  # taken while we were not looking
        handed = set(owned) - mine
        for bucket in lost | handed:  # not ours from now: no line of them starts meanwhile
            self.tokens.pop(bucket, None)
        if before_release is not None and (lost or handed):
            before_release(lost | handed)
        if handed:
            await self._bounded(self.repository.release(self.node_id, sorted(handed)))
            self.stats["released"] += len(handed)
        claims = await self._bounded(self.repository.claim(self.node_id, sorted(mine - set(owned))))
        if self.stats["lapses"] != lapses:
            return await self.join(), set()
        self.stats["claimed"] += len(claims)
        self.tokens = {b: t for b, t in owned.items() if b not in handed}
        gained: dict[int, str | None] = {}
        for claim in claims:
            self.tokens[claim.bucket] = claim.token
            gained[claim.bucket] = claim.previous
        self.taken = {b for b in self.taken if b in self.tokens}
        self.taken |= {b for b, previous in gained.items() if previous is not None}
        if self._clock() - self._swept_at >= SWEEP_EVERY:
            self._swept_at = self._clock()
            self.stats["swept"] += await self._bounded(self.repository.sweep(DEAD_KEPT))
        return gained, lost | handed

    async def leave(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.tokens = {}
        self.lapsed = True
        if self.node_id:
            await self._bounded(self.repository.leave(self.node_id))

    def describe(self) -> dict[str, object]:
        return {"node": self.node_id, "buckets": len(self.tokens), **self.stats}
