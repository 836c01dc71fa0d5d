"""Several engine nodes on one PostgreSQL database (issue 13, ownership of cloud lines).

The spread (rendezvous hashing over buckets) as a pure function; the lease table and the
fencing of writes against PostgreSQL; then three real `trunkline serve` processes on one
PostgreSQL schema registering to a counting registrar on loopback: every line from exactly
one node, never two live bindings from two nodes, a kill -9 taken over within 10 s with the
default 5 s lease, a clean stop handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL, make_env, require_postgres
from tests.engine.counting import CountingRegistrar, seed_lines
from trunkline.domain.buckets import BUCKETS, bucket_of, plan
from trunkline.domain.lines import RegistrationState
from trunkline.storage import migrate
from trunkline.storage.registrations import StatusWrite
from trunkline.storage.secrets import new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.testing.server import LiveServer

# -- the spread -------------------------------------------------------------------------


def test_plan_spreads_buckets_evenly_over_three_nodes():
    shares = Counter(plan(["a1", "b2", "c3"]).values())
    assert sorted(shares) == ["a1", "b2", "c3"]
    assert all(abs(n - BUCKETS / 3) <= 0.1 * BUCKETS / 3 for n in shares.values()), shares


def test_plan_moves_only_the_buckets_of_a_node_that_leaves_or_joins():
    three = plan(["a1", "b2", "c3"])
    two = plan(["a1", "b2"])
    moved = [b for b in range(BUCKETS) if three[b] != two[b]]
    assert moved and all(three[b] == "c3" for b in moved)
    back = plan(["a1", "b2", "c3"])
    assert back == three  # the same set of nodes gives the same owners everywhere


def test_plan_of_no_node_is_empty_and_lines_hash_stably():
    assert plan([]) == {}
    assert bucket_of(1, 7) == bucket_of(1, 7) and 0 <= bucket_of(1, 7) < BUCKETS
    lines = Counter(plan(["a1", "b2", "c3"])[bucket_of(1, n)] for n in range(1, 1001))
    assert all(abs(n - 1000 / 3) <= 0.2 * 1000 / 3 for n in lines.values()), lines


# -- the lease table, on PostgreSQL -----------------------------------------------------


@pytest.fixture
def pg_store(tmp_path):
    require_postgres()
    url = DatabaseUrl(f"{POSTGRES_URL}?schema=tl_cluster_{secrets.token_hex(4)}")
    migrate.upgrade(url)
    yield url
    from tests.conftest import _drop_schema

    asyncio.run(_drop_schema(url))


def _with_store(url: DatabaseUrl, scenario: Any) -> Any:
    from trunkline.storage.secrets import Cipher

    async def run() -> Any:
        store = await Store.open(url, Cipher(new_key()))
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_claim_takes_only_free_or_dead_buckets_and_bumps_the_token(pg_store):
    async def scenario(store: Store) -> None:
        cluster = store.cluster
        await cluster.join("a", "host:1", 5.0, BUCKETS)
        await cluster.join("b", "host:2", 0.3, BUCKETS)
        first = await cluster.claim("a", [0, 1])
        assert [(c.bucket, c.token, c.previous) for c in first] == [(0, 1, None), (1, 1, None)]
        assert await cluster.claim("b", [0, 1, 2]) == [await_one(await cluster.owned("b"))]
        await asyncio.sleep(0.4)  # b's lease runs out
        assert not await cluster.renew("b", 5.0)
        taken = await cluster.claim("a", [2])
        assert [(c.bucket, c.token, c.previous) for c in taken] == [(2, 2, "b")]
        assert await cluster.live_nodes() == ["a"]
        assert await cluster.release("a", [1]) == 1
        assert (await cluster.owned("a")).keys() == {0, 2}
        await cluster.leave("a")
        assert await cluster.owned("a") == {} and await cluster.live_nodes() == []

    _with_store(pg_store, scenario)


def test_a_sweep_deletes_only_the_rows_of_nodes_dead_for_longer_than_asked(pg_store):
    async def scenario(store: Store) -> None:
        cluster = store.cluster
        await cluster.join("live", "host:1", 5.0, BUCKETS)
        await cluster.join("dead", "host:2", 0.1, BUCKETS)
        await cluster.join("just-dead", "host:3", 0.5, BUCKETS)
        assert await cluster.claim("dead", [7]) != []
        await asyncio.sleep(0.7)  # dead ran out 0.6 s ago, just-dead 0.2 s ago
        assert await cluster.sweep(0.4) == 1
        assert [n for n, _, _ in await cluster.nodes()] == ["just-dead", "live"]
        # the dead node's bucket is as free as before its row went
        assert [c.previous for c in await cluster.claim("live", [7])] == ["dead"]

    _with_store(pg_store, scenario)


def test_a_beating_node_sweeps_dead_rows_at_most_once_a_sweep_interval():
    from trunkline.engine import cluster as cluster_module
    from trunkline.engine.cluster import ClusterNode

    now = [100.0]
    repository = HangingRepository()
    node = ClusterNode(
        repository,  # type: ignore[arg-type]
        lease=5.0,
        address="test",
        clock=lambda: now[0],
        on_lapse=lambda: None,
    )

    async def scenario() -> list[float]:
        await node.join()  # its first beat sweeps
        await node.beat()
        now[0] += cluster_module.SWEEP_EVERY / 2
        await node.beat()  # too soon
        now[0] += cluster_module.SWEEP_EVERY / 2
        await node.beat()
        await node.leave()
        return repository.swept

    assert asyncio.run(scenario()) == [cluster_module.DEAD_KEPT] * 2


def await_one(owned: dict[int, int]) -> Any:
    """The Claim `b` made: bucket 2 only (0 and 1 are a's, and a is live)."""
    ((bucket, token),) = owned.items()
    from trunkline.storage.cluster import Claim

    return Claim(bucket, token, None)


@pytest.fixture
def pg_env(database_urls, tmp_path_factory):
    yield from make_env("postgres", database_urls, tmp_path_factory)


def test_a_write_with_a_stale_fencing_token_is_refused(pg_env):
    line = pg_env.add_line(TYPE="cloud", SERVER="sip.example.com", PASSWORD="p")
    key = (pg_env.portal.id, int(line["CONFIG_ID"]))
    store = pg_env.app.store

    async def writes() -> list[bool]:
        cluster = store.cluster
        await cluster.join("fence-a", "host:1", 30.0, BUCKETS)
        try:
            await store.driver.execute(
                "UPDATE engine_buckets SET node = NULL WHERE bucket = ?", (bucket_of(*key),)
            )
            (claim,) = await cluster.claim("fence-a", [bucket_of(*key)])
            stale = (claim.bucket, "fence-a", claim.token - 1)
            other = (claim.bucket, "fence-b", claim.token)
            fresh = (claim.bucket, "fence-a", claim.token)
            row = await store.registrations.cloud_line(*key)
            assert row is not None
            marker = row.registration_updated_at
            applied = []
            for stamp, fence in enumerate((stale, other, fresh), start=1):
                write = StatusWrite(
                    *key, RegistrationState.SUCCESS, 200, "", marker, (marker or 0) + stamp, fence
                )
                applied.extend(await store.registrations.write_statuses([write]))
            return applied
        finally:
            await cluster.leave("fence-a")

    assert pg_env.run(writes) == [False, False, True]
    status = pg_env.ok("voximplant.sip.status", {"REG_ID": line["REG_ID"]})["result"]
    assert status["STATUS_RESULT"] == "success"


# -- real nodes --------------------------------------------------------------------------


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _udp_ports(pid: int) -> set[int]:
    """The UDP ports process `pid` has bound (from `ss`)."""
    out = subprocess.run(["ss", "-uanp"], capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def _owners(url: DatabaseUrl) -> int:
    """How many nodes own buckets (0 while any bucket has no owner)."""
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(url.asyncpg_dsn, server_settings=url.server_settings)
        try:
            row = await conn.fetchrow(
                "SELECT count(DISTINCT node), count(*) FILTER (WHERE node IS NULL)"
                " FROM engine_buckets"
            )
        finally:
            await conn.close()
        return 0 if row[1] else int(row[0])

    try:
        return asyncio.run(count())
    except Exception:
        return 0


def _wait(condition: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def test_three_nodes_register_each_line_once_and_take_over_a_killed_one(tmp_path):
    require_postgres()
    schema = f"tl_nodes_{secrets.token_hex(4)}"
    url = DatabaseUrl(f"{POSTGRES_URL}?schema={schema}")
    registrar = CountingRegistrar.start()
    env = {
        "TRUNKLINE_DATABASE_URL": url.raw,
        "TRUNKLINE_SECRET_KEY": new_key(),
        "TRUNKLINE_SIP_ENGINE": "inprocess",
        "TRUNKLINE_SIP_PORT": "0",
        "TRUNKLINE_SIP_POLL_SECONDS": "1",
        "TRUNKLINE_SIP_EXPIRES": "120",
        "TRUNKLINE_LOG_LEVEL": "warning",
    }
    nodes: list[LiveServer] = []
    try:
        for _ in range(3):
            nodes.append(LiveServer.launch(tmp_path, env=env))
        # Let the nodes settle: every bucket owned, by the three of them (a node that joins
        # takes its share at the others' next beat; lines added before would move once).
        assert _wait(lambda: _owners(url) == 3, 15, step=0.3), "buckets not spread"
        lines = 30
        seed_lines(url.raw, env["TRUNKLINE_SECRET_KEY"], registrar.server, lines)
        assert _wait(lambda: len(registrar.live_sources()) == lines, 20), registrar.live_sources()
        ports = {node.process.pid: _udp_ports(node.process.pid) for node in nodes}
        by_aor = registrar.registered_from()
        assert all(len(sources) == 1 for sources in by_aor.values()), by_aor
        per_node = Counter(
            pid
            for sources in by_aor.values()
            for pid, p in ports.items()
            if next(iter(sources))[1] in p
        )
        assert sum(per_node.values()) == lines and len(per_node) >= 2, (per_node, ports)

        victim = max(nodes, key=lambda node: per_node[node.process.pid])
        victim_ports = ports[victim.process.pid]
        orphans = {a for a, s in by_aor.items() if next(iter(s))[1] in victim_ports}
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait(5)
        killed_at = time.monotonic()

        def taken_over() -> bool:
            live = registrar.live_sources()
            return all(
                live.get(aor) and not live[aor] & {("127.0.0.1", p) for p in victim_ports}
                for aor in orphans
            )

        assert _wait(taken_over, 10.0), registrar.live_sources()
        assert time.monotonic() - killed_at <= 10.0
        since = {a: s for a, s in registrar.registered_from(killed_at).items() if a in orphans}
        assert all(len(s) == 1 for s in since.values()), since
        assert not registrar.violations, registrar.violations[:5]

        survivor = next(node for node in nodes if node is not victim)
        survivor.stop()  # a clean stop hands its lines over at once
        stopped_at = time.monotonic()
        last = next(node for node in nodes if node not in (victim, survivor))
        last_ports = {("127.0.0.1", p) for p in _udp_ports(last.process.pid)}
        assert _wait(
            lambda: all(s and s <= last_ports for s in registrar.live_sources().values()), 10.0
        ), registrar.live_sources()
        assert time.monotonic() - stopped_at < 5.0  # well before the 5 s lease ran out
        assert not registrar.violations, registrar.violations[:5]
    finally:
        for node in nodes:
            node.stop()
        registrar.close()
        from tests.conftest import _drop_schema

        asyncio.run(_drop_schema(url))


# -- local fencing: a node cut off stops before its lease can be taken ------------------


class HangingRepository:
    """Answers the join and the first beat, then hangs like a database behind a dead link."""

    def __init__(self) -> None:
        self.cut = False
        self.node = ""
        self.renewed_at: list[float] = []

    async def _maybe_hang(self) -> None:
        if self.cut:
            await asyncio.sleep(3600)

    async def join(self, node: str, address: str, lease: float, buckets: int) -> None:
        self.node = node
        self.renewed_at.append(asyncio.get_running_loop().time())

    async def renew(self, node: str, lease: float) -> bool:
        await self._maybe_hang()
        self.renewed_at.append(asyncio.get_running_loop().time())
        return True

    async def live_nodes(self) -> list[str]:
        await self._maybe_hang()
        return [self.node]

    async def owned(self, node: str) -> dict[int, int]:
        await self._maybe_hang()
        return {}

    async def claim(self, node: str, buckets: list[int]) -> list[Any]:
        from trunkline.storage.cluster import Claim

        return [Claim(b, 1, None) for b in buckets[:3]]

    async def release(self, node: str, buckets: list[int]) -> int:
        return len(buckets)

    async def leave(self, node: str) -> None:
        return None

    async def sweep(self, older_than: float) -> int:
        self.swept = [*getattr(self, "swept", []), older_than]
        return 0


def test_a_node_cut_off_fences_itself_before_its_database_lease_ends():
    from trunkline.engine.cluster import ClusterNode

    async def scenario() -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        repository = HangingRepository()
        lapsed: list[float] = []
        node = ClusterNode(
            repository,  # type: ignore[arg-type]
            lease=1.0,
            address="test",
            clock=loop.time,
            on_lapse=lambda: lapsed.append(loop.time()),
        )
        await node.join()
        assert node.valid() and node.tokens
        repository.cut = True
        with contextlib.suppress(TimeoutError):
            await node.beat()  # hangs, gives up after half a lease
        await asyncio.sleep(1.0)
        last_renewal = repository.renewed_at[-1]  # the database's lease ends 1.0 s after
        return lapsed[0] - last_renewal, node.valid(), bool(node.tokens)

    fenced_after, valid, owns = asyncio.run(scenario())
    assert fenced_after <= 1.0 - 0.2 + 0.05  # lease - margin, before the database's lease ends
    assert not valid and not owns


# -- a bucket handed over while a line's row is read: the line is not registered here --------


class _Owner:
    def __init__(self) -> None:
        self.mine = True

        self.taken = False

    def owns(self, key: tuple[int, int]) -> bool:
        return self.mine

    def taken_over(self, key: tuple[int, int]) -> bool:
        return self.taken


class _SlowRows:
    """Reads a line's row; the read is the await during which a beat hands the bucket over."""

    def __init__(self, line: Any, during_read: Any) -> None:
        self.line = line
        self.during_read = during_read

    async def cloud_line(self, portal_id: int, config_id: int) -> Any:
        self.during_read()
        await asyncio.sleep(0)
        return self.line


class _Supervisor:
    def __init__(self) -> None:
        self.runners: dict[tuple[int, int], Any] = {}
        self.added: list[tuple[int, int]] = []
        self.cleared: list[bool] = []

    def add(self, line: Any, *, spread: bool = True) -> None:
        self.added.append(line.key)
        self.cleared.append(line.clear_first)

    def drop(self, key: tuple[int, int]) -> None:
        self.runners.pop(key, None)


def test_a_line_read_while_its_bucket_is_handed_over_is_not_registered_by_the_old_owner():
    """The 1,002 bindings: a sync read the row, a beat gave the bucket away, the sync added it."""
    from trunkline.domain.lines import LineType, SipLine
    from trunkline.engine.runtime import Engine

    line = SipLine(1, 3, 7, "app", LineType.CLOUD, "t", "sip.example", "login", "secret")
    owner, supervisor = _Owner(), _Supervisor()
    engine = object.__new__(Engine)
    engine.cluster = owner  # type: ignore[assignment]
    engine.supervisor = supervisor  # type: ignore[assignment]
    engine._markers, engine._pending_writes = {}, {}

    def hand_over() -> None:
        owner.mine = False  # what ClusterNode.beat does to tokens before the release

    engine.registrations = _SlowRows(line, hand_over)  # type: ignore[assignment]
    asyncio.run(engine.sync((1, 7)))
    assert supervisor.added == [] and (1, 7) not in engine._markers
    owner.mine = True
    engine._adopt(line, spread=False)  # and the start/beat loaders check at the moment too
    assert supervisor.added == [(1, 7)]
    owner.mine = False
    engine._adopt(line, spread=False)
    assert supervisor.added == [(1, 7)]


def test_a_line_of_a_taken_bucket_first_clears_the_old_owners_binding_whichever_path_loads_it():
    """A change read by the syncer before the gained-bucket loader must still send Contact: *."""
    from trunkline.domain.lines import LineType, SipLine
    from trunkline.engine.runtime import Engine

    line = SipLine(1, 3, 7, "app", LineType.CLOUD, "t", "sip.example", "login", "secret")
    owner, supervisor = _Owner(), _Supervisor()
    engine = object.__new__(Engine)
    engine.cluster = owner  # type: ignore[assignment]
    engine.supervisor = supervisor  # type: ignore[assignment]
    engine._markers, engine._pending_writes = {}, {}
    engine.registrations = _SlowRows(line, lambda: None)  # type: ignore[assignment]
    asyncio.run(engine.sync((1, 7)))
    owner.taken = True
    supervisor.runners.clear()
    asyncio.run(engine.sync((1, 7)))
    assert supervisor.cleared == [False, True]


def test_the_node_remembers_which_of_its_buckets_it_took_from_another_node():
    from trunkline.engine.cluster import ClusterNode
    from trunkline.storage.cluster import Claim

    class Repository(HangingRepository):
        async def claim(self, node: str, buckets: list[int]) -> list[Any]:
            return [Claim(buckets[0], 1, None), Claim(buckets[1], 1, "old")]

    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        node = ClusterNode(
            Repository(),  # type: ignore[arg-type]
            lease=1.0,
            address="test",
            clock=loop.time,
            on_lapse=lambda: None,
        )
        await node.join()
        free, taken = sorted(node.tokens)
        keys = {bucket_of(p, c): (p, c) for p in range(1, 200) for c in range(1, 50)}
        result = node.taken_over(keys[free]), node.taken_over(keys[taken])
        await node.leave()
        return result

    assert asyncio.run(scenario()) == (False, True)


def test_a_renewal_answered_after_the_local_lease_ran_out_joins_again_and_reloads():
    """The engine dropped every line at the lapse: the old id must not come back with its
    buckets (nobody would load their lines again); the beat joins anew and gains them all."""
    from trunkline.engine.cluster import ClusterNode

    class Late(HangingRepository):
        def __init__(self) -> None:
            super().__init__()
            self.delay = 0.0
            self.joins = 0

        async def join(self, node: str, address: str, lease: float, buckets: int) -> None:
            self.joins += 1
            await super().join(node, address, lease, buckets)

        async def renew(self, node: str, lease: float) -> bool:
            delay, self.delay = self.delay, 0.0
            await asyncio.sleep(delay)  # the answer comes after the local lease ran out
            return await super().renew(node, lease)

        async def owned(self, node: str) -> dict[int, int]:
            return {1: 1, 2: 1, 3: 1} if self.joins == 1 else {}

    async def scenario() -> tuple[list[str], str, str, dict[int, str | None], bool]:
        loop = asyncio.get_running_loop()
        repository = Late()
        lapses: list[str] = []
        node = ClusterNode(
            repository,  # type: ignore[arg-type]
            lease=1.0,
            address="test",
            clock=loop.time,
            on_lapse=lambda: lapses.append(node.node_id),
        )
        await node.join()
        first = node.node_id
        await asyncio.sleep(0.4)
        repository.delay = 0.45  # sent at 0.4, lapse at 0.8, answered at 0.85 (< 0.4 + 0.8)
        gained, _ = await node.beat()
        result = lapses, first, node.node_id, gained, node.valid()
        await node.leave()
        return result

    lapses, first, now, gained, valid = asyncio.run(scenario())
    assert lapses == [first]
    assert now != first and valid
    assert sorted(gained) == [0, 1, 2]  # every bucket held counts as gained: its lines load


def test_a_beat_that_gains_buckets_does_not_wait_for_their_lines_to_be_read():
    """Reading 100,000 rows inside the beat held up the renewal: the lease ran out, in a loop."""
    from trunkline.domain.lines import LineType, SipLine
    from trunkline.engine.runtime import Engine

    keys = [(p, c) for p in range(1, 40) for c in range(1, 11)]
    gained_bucket = bucket_of(*keys[0])
    lines = [
        SipLine(p, c, c, "app", LineType.CLOUD, "t", "sip.example", "login", "secret")
        for p, c in keys
    ]

    class Node(_Owner):
        node_id = "n1"

        def bucket(self, key: tuple[int, int]) -> int:
            return bucket_of(*key)

        async def beat(self, before_release: Any) -> tuple[dict[int, str | None], set[int]]:
            return {gained_bucket: None}, set()

    class Rows:
        fence_node = ""

        def __init__(self) -> None:
            self.go = asyncio.Event()
            self.reads = 0

        async def cloud_lines(self, keep: Any) -> list[SipLine]:
            self.reads += 1
            await self.go.wait()
            return [line for line in lines if keep(line.portal_id, line.config_id)]

    async def scenario() -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        supervisor, rows = _Supervisor(), Rows()
        engine = object.__new__(Engine)
        engine.cluster = Node()  # type: ignore[assignment]
        engine.supervisor = supervisor  # type: ignore[assignment]
        engine.registrations = rows  # type: ignore[assignment]
        engine._markers, engine._pending_writes = {}, {}
        engine._gained, engine._wake_loader = set(), asyncio.Event()
        loader = asyncio.ensure_future(engine._loader())
        async with asyncio.timeout(5):
            await engine.beat()  # returns although the rows are still being read
            await asyncio.sleep(0.01)
            before = list(supervisor.added)
            rows.go.set()
            while not supervisor.added:
                await asyncio.sleep(0.01)
        loader.cancel()
        return rows.reads, before, supervisor.added

    reads, before, added = asyncio.run(scenario())
    assert reads == 1 and before == []
    assert added and sorted(added) == sorted(k for k in keys if bucket_of(*k) == gained_bucket)


def test_renewals_between_beats_keep_the_lease_while_a_beat_takes_longer_than_it():
    """A beat that outlasts the lease (claims contending, a busy loop): the engine's renewer,
    renewing on its own every tenth of a lease, keeps the node valid throughout."""
    from trunkline.engine.cluster import ClusterNode

    class Slow(HangingRepository):
        slow = 0  # this many calls take 0.45 s (of a 1 s lease, valid for 0.8 s)

        async def _maybe_hang(self) -> None:
            if self.slow:
                self.slow -= 1
                await asyncio.sleep(0.45)

        async def renew(self, node: str, lease: float) -> bool:
            self.renewed_at.append(asyncio.get_running_loop().time())
            return True

    async def scenario(renewing: bool) -> int:
        loop = asyncio.get_running_loop()
        repository = Slow()
        lapses: list[float] = []
        node = ClusterNode(
            repository,  # type: ignore[arg-type]
            lease=1.0,
            address="test",
            clock=loop.time,
            on_lapse=lambda: lapses.append(loop.time()),
        )
        await node.join()

        async def renewer() -> None:
            while True:
                await asyncio.sleep(node.interval)
                await node.renew()

        task = asyncio.ensure_future(renewer()) if renewing else None
        repository.slow = 2  # live nodes and owned: 0.9 s for this beat
        async with asyncio.timeout(5):
            await node.beat()
        if task is not None:
            task.cancel()
        await node.leave()
        return len(lapses)

    assert asyncio.run(scenario(renewing=True)) == 0
    assert asyncio.run(scenario(renewing=False)) == 1  # the beat alone lets it run out


# -- the line poll: a scan of every cloud row only when the lines changed -----------------


def test_the_lines_mark_moves_with_a_write_to_lines_by_any_connection_and_only_then(pg_store):
    import asyncpg

    seed_lines(pg_store.raw, new_key(), "127.0.0.1:9", 1)

    async def scenario(store: Store) -> tuple[int | None, int | None, int | None]:
        before = await store.registrations.lines_mark()
        await store.cluster.join("a", "host:1", 5.0, BUCKETS)  # not the lines table
        same = await store.registrations.lines_mark()
        other = await asyncpg.connect(
            pg_store.asyncpg_dsn, server_settings=pg_store.server_settings
        )
        try:  # another process's write, committed
            await other.execute("UPDATE lines SET title = coalesce(title, '') || 'x'")
        finally:
            await other.close()
        return before, same, await store.registrations.lines_mark()

    before, same, after = _with_store(pg_store, scenario)
    assert before is not None and same == before
    assert after is not None and after > before


def test_the_poll_scans_when_the_lines_mark_moved_and_at_least_every_few_polls():
    from trunkline.engine.runtime import FULL_SCAN_EVERY, Engine

    engine = object.__new__(Engine)
    engine._polls, engine._scanned = 0, None
    assert [engine.scan_due(None) for _ in range(3)] == [True, True, True]  # SQLite: always
    engine._polls, engine._scanned = 0, None
    assert [engine.scan_due(7), engine.scan_due(7), engine.scan_due(8), engine.scan_due(8)] == [
        True,
        False,
        True,
        False,
    ]
    dues = [engine.scan_due(8) for _ in range(FULL_SCAN_EVERY)]
    assert dues.count(True) == 1  # the net: one full scan every FULL_SCAN_EVERY polls


def test_a_bucket_being_handed_over_is_not_owned_while_the_release_is_on_its_way():
    """The loader runs beside the beat: a line of a bucket being released must not start."""
    from trunkline.engine.cluster import ClusterNode

    keys = {bucket_of(p, c): (p, c) for p in range(1, 200) for c in range(1, 50)}
    seen_during_release: list[bool] = []

    class Handing(HangingRepository):
        node_ref: ClusterNode | None = None
        joined = False  # "another" joins after this node's first beat

        async def live_nodes(self) -> list[str]:
            return [self.node, "another"] if self.joined else [self.node]

        async def owned(self, node: str) -> dict[int, int]:
            return dict.fromkeys(range(BUCKETS), 1)

        async def release(self, node: str, buckets: list[int]) -> int:
            assert self.node_ref is not None
            await asyncio.sleep(0)
            seen_during_release.extend(self.node_ref.owns(keys[b]) for b in buckets if b in keys)
            return len(buckets)

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        repository = Handing()
        node = ClusterNode(
            repository,  # type: ignore[arg-type]
            lease=1.0,
            address="test",
            clock=loop.time,
            on_lapse=lambda: None,
        )
        repository.node_ref = node
        await node.join()
        assert len(node.tokens) == BUCKETS
        repository.joined = True
        await node.beat()
        kept = len(node.tokens)
        await node.leave()
        return kept

    kept = asyncio.run(scenario())
    assert 0 < kept < BUCKETS  # "another" ranks first for the rest
    assert seen_during_release and not any(seen_during_release)
