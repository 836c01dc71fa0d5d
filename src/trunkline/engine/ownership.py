"""The engine's side of cluster membership: which lines it keeps as its buckets come and go.

Rules (membership itself, the lease and the beat, is engine/cluster.py):

* The renewer renews the lease every `lease / 10` seconds and does nothing else. The beater
  beats as often: a beat renews too, hands buckets over (their lines are dropped first,
  without farewell: the next owner clears the binding) and claims buckets. A beat can take
  seconds (claims contending while nodes join, a busy loop); renewals do not wait for it.
* The lines of gained buckets are read by the loader, a task of its own, woken by a beat that
  gained something. Reading 100,000 rows and decrypting a third of them takes seconds on a
  busy machine; done inside the beat it held up the next renewal until the local lease ran
  out, the node dropped every line, joined again, gained everything again, and so on.
* A line is adopted only if its bucket is still ours at that moment (a beat may have handed
  it over, or the lease run out, while the rows were read) and it is not running already.
* When the lease runs out, every line is forgotten at once and nothing more is sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from trunkline.domain.lines import SipLine
from trunkline.engine.cluster import ClusterNode
from trunkline.engine.runner import LineRunner, cloud_line
from trunkline.engine.supervisor import Supervisor
from trunkline.storage.registrations import RegistrationStore

__all__ = ["Ownership"]

log = logging.getLogger("trunkline.engine")


class Ownership:
    """The part of the engine that follows the cluster (its state lives in `Engine`)."""

    cluster: ClusterNode | None
    registrations: RegistrationStore
    supervisor: Supervisor
    _markers: dict[tuple[int, int], float | None]
    _pending_writes: dict[tuple[int, int], LineRunner]
    _gained: set[int]
    _wake_loader: asyncio.Event

    def _owns(self, key: tuple[int, int]) -> bool:
        return self.cluster is None or self.cluster.owns(key)

    def _adopt(self, line: SipLine, *, spread: bool) -> None:
        cloud = cloud_line(line)
        if not self._owns(cloud.key):  # handed over while the rows were read: not ours now
            return
        if self.cluster is not None and self.cluster.taken_over(cloud.key):
            cloud = replace(cloud, clear_first=True)  # another node held it: clear its binding
        self._markers[cloud.key] = cloud.marker
        self.supervisor.add(cloud, spread=spread)

    def _lapsed(self) -> None:
        """The lease ran out: forget every line at once, send nothing more."""
        for key in list(self.supervisor.runners):
            self._drop(key)

    def _drop(self, key: tuple[int, int]) -> None:
        self._markers.pop(key, None)
        self._pending_writes.pop(key, None)
        self.supervisor.drop(key)

    def _handing_over(self, buckets: set[int]) -> None:
        assert self.cluster is not None
        bucket = self.cluster.bucket
        for key in [k for k in self.supervisor.runners if bucket(k) in buckets]:
            self._drop(key)

    async def _beater(self) -> None:
        assert self.cluster is not None
        while True:
            await asyncio.sleep(self.cluster.interval)
            try:
                await self.beat()
            except Exception as exc:  # the database is away: the lease timer fences us
                log.warning("cluster beat failed: %s", exc or type(exc).__name__)

    async def _renewer(self) -> None:
        assert self.cluster is not None
        while True:
            await asyncio.sleep(self.cluster.interval)
            try:
                await self.cluster.renew()
            except Exception as exc:  # the database is away: the lease timer fences us
                log.warning("cluster lease renewal failed: %s", exc or type(exc).__name__)

    async def beat(self) -> None:
        """Renew the lease, hand over and take buckets; the loader reads the lines taken."""
        assert self.cluster is not None
        gained, _ = await self.cluster.beat(self._handing_over)
        self.registrations.fence_node = self.cluster.node_id
        if gained:
            self._gained.update(gained)
            self._wake_loader.set()

    async def _loader(self) -> None:
        while True:
            await self._wake_loader.wait()
            self._wake_loader.clear()
            try:
                await self.load_gained()
            except Exception:
                log.exception("could not read the lines of the buckets taken")
                await asyncio.sleep(1.0)
                self._wake_loader.set()

    async def load_gained(self) -> int:
        """Read and start the lines of the buckets gained since the last call; how many."""
        buckets, self._gained = self._gained, set()
        if not buckets:
            return 0
        assert self.cluster is not None  # buckets are gained only by a cluster node
        bucket = self.cluster.bucket
        try:
            lines = await self.registrations.cloud_lines(
                lambda *k: bucket(k) in buckets and self._owns(k)
            )
        except BaseException:
            self._gained |= buckets  # read them next time
            raise
        added = 0
        for n, line in enumerate(lines):
            if (line.portal_id, line.config_id) not in self.supervisor.runners:
                self._adopt(line, spread=False)
                added += 1
            if n % 500 == 499:
                await asyncio.sleep(0)
        return added
