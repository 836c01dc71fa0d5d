"""SQLite group commit and the versioned row cache."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest

from tests.storage.helpers import set_registration
from trunkline.domain.lines import LineChanges, LineType, NewLine
from trunkline.domain.query import FIELDS, Condition, LineQuery, Op
from trunkline.storage.driver import DuplicateError, SqliteDriver
from trunkline.storage.migrate import upgrade
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.storage.walindex import DataVersion


@pytest.fixture
def url(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    upgrade(url)
    return url


def new(title: str) -> NewLine:
    return NewLine(LineType.OFFICE, title, "s", "l", "pw", "")


async def open_store(url: DatabaseUrl, key: str) -> Store:
    store = Store(SqliteDriver(url), Cipher(key))
    return store


def test_group_commit_isolates_a_failing_writer(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.accounts.create_portal("p.example")

        async def add(title: str) -> str:
            async with store.lines.line_writer(portal.id) as writer:
                await writer.insert(new(title), incoming_server="x")
                if title == "bad":
                    raise RuntimeError("writer failed after its insert")
            return title

        results = await asyncio.gather(
            *(add(t) for t in ["a", "b", "bad", "c"]), return_exceptions=True
        )
        other = await open_store(url, key)  # a second connection sees only commits
        titles = sorted(line.title for line in await other.lines.all_lines(portal.id))
        await other.close()
        await store.close()
        return results, titles

    results, titles = asyncio.run(scenario())
    assert results[:2] == ["a", "b"] and results[3] == "c"
    assert isinstance(results[2], RuntimeError)
    assert titles == ["a", "b", "c"]


def test_group_commit_batches_writers_of_one_loop_turn(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.accounts.create_portal("p.example")
        commits = 0
        original = store.driver._commit

        def counting() -> None:
            nonlocal commits
            commits += 1
            original()

        store.driver._commit = counting

        async def add(i: int) -> None:
            async with store.lines.line_writer(portal.id) as writer:
                await writer.insert(new(f"t{i}"), incoming_server="x")

        await asyncio.gather(*(add(i) for i in range(20)))
        total = len(await store.lines.all_lines(portal.id))
        await store.close()
        return commits, total

    commits, total = asyncio.run(scenario())
    assert total == 20 and commits < 20


def test_unique_title_violation_inside_a_batch(url):
    async def scenario():
        store = await open_store(url, new_key())
        portal = await store.accounts.create_portal("p.example")

        async def add(title: str) -> None:
            async with store.lines.line_writer(portal.id) as writer:
                await writer.insert(new(title), incoming_server="x")

        results = await asyncio.gather(
            add("same"), add("same"), add("other"), return_exceptions=True
        )
        titles = sorted(line.title for line in await store.lines.all_lines(portal.id))
        await store.close()
        return results, titles

    results, titles = asyncio.run(scenario())
    assert results[0] is None and isinstance(results[1], DuplicateError) and results[2] is None
    assert titles == ["other", "same"]


def test_row_cache_sees_writes_of_other_connections(url):
    key = new_key()

    async def scenario():
        reader = await open_store(url, key)
        writer_store = await open_store(url, key)
        portal = await reader.accounts.create_portal("p.example")
        async with writer_store.lines.line_writer(portal.id) as writer:
            line = await writer.insert(new("before"), incoming_server="x")
        query = LineQuery(portal_id=portal.id, app_id=None)
        first = (await reader.lines.list_lines(query))[1][0]
        again = (await reader.lines.list_lines(query))[1][0]
        async with writer_store.lines.line_writer(portal.id) as writer:
            await writer.update(line.config_id, LineChanges(title="after", password="new"))
        changed = (await reader.lines.list_lines(query))[1][0]
        await set_registration(writer_store, portal.id, line.config_id, 200, "")
        registered = (await reader.lines.list_lines(query))[1][0]
        await reader.close()
        await writer_store.close()
        return first, again, changed, registered

    first, again, changed, registered = asyncio.run(scenario())
    assert again is first  # served from the cache
    assert (changed.title, changed.password, changed.version) == ("after", "new", 2)
    assert registered.registration_status_code == 200 and registered.version == 3


def test_line_columns_follow_sipline_fields():
    import dataclasses

    from trunkline.domain.lines import SipLine
    from trunkline.storage.sql import LINE_COLUMNS

    assert [f.name for f in dataclasses.fields(SipLine)] == ["portal_id", *LINE_COLUMNS]


def test_close_finishes_a_pending_group_commit(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.accounts.create_portal("p.example")
        driver = store.driver
        driver._run("BEGIN IMMEDIATE", ())
        driver._batch = asyncio.get_running_loop().create_future()
        await driver.execute(
            "UPDATE portals SET title = ? WHERE id = ?", ("committed on close", portal.id)
        )
        await store.close()
        other = await open_store(url, key)
        title = (await other.accounts.get_portal(portal.id)).title
        await other.close()
        return title

    assert asyncio.run(scenario()) == "committed on close"


def test_webhook_owner_cache_follows_every_change(url):
    """The cached webhook/user/portal answer is dropped by any change that could alter it:
    this store's own writes, and any commit by another connection (another worker or the
    CLI); line writes, the hot path, leave it in place."""
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.accounts.create_portal("p.example")
        user = await store.accounts.create_user(portal.id, "admin", is_admin=True, user_id=1)
        hook = await store.accounts.create_webhook(portal.id, user.user_id, "h1", ["telephony"])
        seen = []

        async def active() -> bool | None:
            found = await store.accounts.webhook_with_owner("h1")
            return None if found is None else found[0].active

        seen.append(await active())
        first = await store.accounts.webhook_with_owner("h1")
        assert (
            first is not None and await store.accounts.webhook_with_owner("h1") is first
        )  # cached
        mark = store.driver.change_mark()
        async with store.lines.line_writer(portal.id) as writer:
            await writer.insert(new("a line"), incoming_server="x")
        assert store.driver.change_mark() == mark  # line writes keep the cache
        assert await store.accounts.webhook_with_owner("h1") is first

        await store.accounts.set_webhook_active(hook.id, False)  # own write
        seen.append(await active())

        other = await open_store(url, key)  # another connection: another process's view
        await other.accounts.set_webhook_active(hook.id, True)
        seen.append(await active())
        await other.driver.execute("DELETE FROM webhooks WHERE id = ?", (hook.id,))
        seen.append(await active())
        # An unknown code is cached as unknown only until a webhook with it appears.
        await other.accounts.create_webhook(portal.id, user.user_id, "h1", ["telephony"])
        seen.append(await active())
        await other.close()
        await store.close()
        return seen

    assert asyncio.run(scenario()) == [True, False, True, None, True]


def test_listing_cache_follows_every_write(url):
    """A remembered sip.get answer is dropped by any write of this connection (lines,
    registrations, a writer rolled back after its read) and by any other connection's
    commit; big filters are never remembered."""
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        other = await open_store(url, key)
        portal = await store.accounts.create_portal("p.example")
        query = LineQuery(portal_id=portal.id, app_id=None)
        titles = []

        async def seen() -> list[str | None]:
            return [line.title for line in (await store.lines.list_lines(query))[1]]

        async with store.lines.line_writer(portal.id) as writer:
            line = await writer.insert(new("a"), incoming_server="x")
        titles.append(await seen())
        assert store.lines._listings  # remembered
        titles.append(await seen())
        async with store.lines.line_writer(portal.id) as writer:  # own update
            await writer.update(line.config_id, LineChanges(title="b"))
        titles.append(await seen())
        await set_registration(store, portal.id, line.config_id, 200, "")  # the engine's write
        statuses = [x.registration_status_code for x in (await store.lines.list_lines(query))[1]]
        # A writer that read its own pending row and then failed leaves no trace.
        with pytest.raises(RuntimeError):
            async with store.lines.line_writer(portal.id) as writer:
                await writer.insert(new("pending"), incoming_server="x")
                titles.append(await seen())
                raise RuntimeError("rolled back")
        titles.append(await seen())
        for _ in range(2):  # the group's COMMIT runs at the end of the next loop turn
            await asyncio.sleep(0)  # (one thread holds both connections)
        async with other.lines.line_writer(portal.id) as writer:  # another process's commit
            await writer.insert(new("c"), incoming_server="x")
        titles.append(await seen())
        # A raising on_count (sip.get's sort error) raises on a remembered answer too.
        with pytest.raises(ValueError):
            await store.lines.list_lines(
                query, on_count=lambda total: (_ for _ in ()).throw(ValueError)
            )
        remembered = len(store.lines._listings)
        big = LineQuery(
            portal_id=portal.id,
            app_id=None,
            conditions=[Condition(FIELDS["TITLE"], Op.CONTAINS, ("x" * 1000,))],
        )
        assert (await store.lines.list_lines(big))[0] == 0
        assert len(store.lines._listings) == remembered
        await other.close()
        await store.close()
        return titles, statuses

    titles, statuses = asyncio.run(scenario())

    assert titles == [["a"], ["a"], ["b"], ["b", "pending"], ["b"], ["b", "c"]]
    assert statuses == [200]


def test_checkpointer_copies_writes_and_idles_when_nothing_changed(url, monkeypatch):
    """The background checkpoint copies the WAL into the database after writes (the next
    writer then starts the WAL over), and runs no checkpoint at all while nothing is
    written."""
    from trunkline.storage import driver as driver_module

    calls = []
    real_stat = driver_module._stat

    def counting_stat(path: str):
        calls.append(path)
        return real_stat(path)

    monkeypatch.setattr(driver_module, "_stat", counting_stat)
    checkpoints = []
    real_connect = sqlite3.connect

    class Counting:
        def __init__(self, db):
            self._db = db

        def execute(self, sql, *args):
            if "wal_checkpoint" in sql:
                checkpoints.append(sql)
            return self._db.execute(sql, *args)

        def close(self):
            self._db.close()

    def connect(*args, **kwargs):
        return Counting(real_connect(*args, **kwargs))

    monkeypatch.setattr(driver_module.sqlite3, "connect", connect)
    wal = url.sqlite_path + "-wal"
    checkpointer = driver_module._Checkpointer(url.sqlite_path, interval=0.02)
    try:
        db = real_connect(url.sqlite_path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        assert wait_for(lambda: checkpoints)  # the write is noticed and copied
        assert wait_for(lambda: real_stat(wal) == real_stat(wal) and len(calls) > 2)
        first, woken = len(checkpoints), len(calls)
        assert wait_for(lambda: len(calls) > woken + 10)  # ten wake-ups, nothing written
        assert len(checkpoints) <= first + 1
        size = os.path.getsize(wal)
        for i in range(200):
            db.execute("INSERT INTO t VALUES (?)", (i,))
            if i % 20 == 0:
                time.sleep(0.03)
        assert wait_for(lambda: len(checkpoints) > first + 1)
        # Copied frames are reused: the WAL does not grow with every write.
        assert os.path.getsize(wal) < size + 200 * 4096
        db.close()
    finally:
        checkpointer.stop()


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_rolled_back_writer_moves_both_marks(url):
    """A writer that fails is rolled back; whatever it wrote (a webhook, a user) may have
    been read into a cache meanwhile, so both change marks move."""

    async def scenario():
        driver = SqliteDriver(url)
        before = driver.change_mark(), driver.data_mark()
        with pytest.raises(RuntimeError):
            async with driver.transaction():
                raise RuntimeError("the writer fails")
        after = driver.change_mark(), driver.data_mark()
        await driver.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert after[0] != before[0] and after[1] != before[1]


def test_data_version_is_read_once_per_group_commit_and_again_after_it(url):
    """While a group commit is open this connection holds the write lock (no other can
    commit): its data_version is read once; after the COMMIT, another's commit shows. (The
    PRAGMA alone: without the WAL index's header, tests/storage/test_walindex.py.)"""

    async def scenario():
        driver = SqliteDriver(url)
        driver._version = DataVersion(driver._pragma_version, None)
        reads = 0
        db = driver._cursor

        class Counting:
            def execute(self, sql, params=()):
                nonlocal reads
                reads += sql == "PRAGMA data_version"
                return db.execute(sql, params)

            def __getattr__(self, name):
                return getattr(db, name)

        driver._cursor = Counting()
        async with driver.transaction():
            first = driver.change_mark()
            assert driver.change_mark() == first and driver.data_mark()[0] == first[0]
        assert reads == 1
        before = driver.change_mark()
        other = sqlite3.connect(url.sqlite_path)
        other.execute(
            "INSERT INTO event_journal (portal_id, event, outcome, at) VALUES (1, 'E', 'refused', 1)"
        )
        other.commit()
        other.close()
        after = driver.change_mark()
        driver._cursor = db
        await driver.close()
        return reads, before, after

    reads, before, after = asyncio.run(scenario())
    assert reads == 3 and after[0] != before[0]


def test_a_statement_left_unfinished_never_hides_a_commit(url):
    """Every statement runs on the driver's one cursor: a fetch_one of several rows leaves
    its statement unfinished (and so a read snapshot open) only until the next statement,
    and the marks' data_version read is such a statement, so another connection's commit
    still moves them."""

    async def scenario():
        driver = SqliteDriver(url)
        await driver.execute("CREATE TABLE t (x)")
        await driver.execute("INSERT INTO t VALUES (1), (2), (3)")
        before = (driver.data_mark()[0], driver.change_mark()[0])
        assert await driver.fetch_one("SELECT x FROM t ORDER BY x") == (1,)  # 2 rows left
        other = sqlite3.connect(url.sqlite_path)
        other.execute("INSERT INTO t VALUES (4)")
        other.commit()
        other.close()
        after = (driver.data_mark()[0], driver.change_mark()[0])
        rows = await driver.fetch_all("SELECT x FROM t ORDER BY x")
        await driver.close()
        return before, after, rows

    before, after, rows = asyncio.run(scenario())
    assert after[0] != before[0] and after[1] != before[1]
    assert rows == [(1,), (2,), (3,), (4,)]


def test_none_and_bools_bind_as_null_and_integers(tmp_path):
    """The driver's sqlite3 adapters (None, bool) bind what sqlite3 binds without them."""
    driver = SqliteDriver(DatabaseUrl(f"sqlite:///{tmp_path / 'b.sqlite3'}"))

    async def scenario():
        try:
            return await driver.fetch_one(
                "SELECT typeof(?), ?, typeof(?), ?, typeof(?), ?",
                (None, None, True, True, False, False),
            )
        finally:
            await driver.close()

    assert tuple(asyncio.run(scenario())) == ("null", None, "integer", 1, "integer", 0)


@pytest.mark.parametrize("restart_bytes", [256 * 1024, None])
def test_checkpointer_bounds_the_wal_under_steady_writes(url, monkeypatch, restart_bytes):
    """A writer that never pauses leaves PASSIVE checkpoints forever behind (the WAL only
    starts over after a complete one): past ``restart_bytes`` of frames a RESTART lets the
    next writer start it over, so the file stays near that size. Without it (None: the
    limit out of reach) the same writes grow the WAL to hold all of them."""
    from trunkline.storage import driver as driver_module

    if restart_bytes is not None:
        monkeypatch.setattr(driver_module._Checkpointer, "restart_bytes", restart_bytes)
    else:
        monkeypatch.setattr(driver_module._Checkpointer, "restart_bytes", 1 << 62)
    db = sqlite3.connect(url.sqlite_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("CREATE TABLE t (x)")
    checkpointer = driver_module._Checkpointer(url.sqlite_path, interval=0.005)
    writes = 3000  # 4 KB each: about 12 MB of frames
    try:
        for _ in range(writes):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t VALUES (randomblob(4000))")
            db.execute("COMMIT")
            time.sleep(0.0002)  # the rest of an event-loop turn, between two group commits
    finally:
        checkpointer.stop()
    size = os.path.getsize(url.sqlite_path + "-wal")
    db.close()
    if restart_bytes is not None:
        assert size < 4 * 1024 * 1024
    else:
        assert size > 8 * 1024 * 1024


def test_reads_map_the_file_and_the_page_cache_stays_small(url):
    """The connection maps the database file for reads, so its private page cache (whose
    every page SQLite may walk at a COMMIT) holds only written pages and WAL reads."""

    async def scenario():
        driver = SqliteDriver(url)
        try:
            mmap = (await driver.fetch_one("PRAGMA mmap_size"))[0]
            cache = (await driver.fetch_one("PRAGMA cache_size"))[0]
        finally:
            await driver.close()
        return mmap, cache

    mmap, cache = asyncio.run(scenario())
    assert mmap >= 256 * 1024 * 1024
    assert cache == -8192


def test_a_large_writer_in_memory_temp_store_opens_no_temporary_file(url):
    """A savepoint's statement journal past 64 KiB goes to a temporary file (opened, then
    unlinked at once), unless ``temp_in_memory``: none is open then."""
    import os

    def temporary() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if "etilqs_" in target:  # SQLite's temporary file names
                found.append(target)
        return found

    async def scenario(in_memory: bool) -> list[str]:
        driver = SqliteDriver(url)
        try:
            if in_memory:
                driver.temp_in_memory()
            async with driver.transaction() as tx:
                await tx.execute("CREATE TABLE IF NOT EXISTS big (n INTEGER, t TEXT)")
                await tx.execute(
                    "INSERT INTO big WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL"
                    " SELECT n + 1 FROM c WHERE n < 3000) SELECT n, hex(randomblob(100)) FROM c"
                )
            async with driver.transaction() as tx:  # every page changed again
                await tx.execute("UPDATE big SET t = hex(randomblob(100))")
                return temporary()
        finally:
            await driver.close()

    assert asyncio.run(scenario(False)) != []  # (the default: what it avoids)
    assert asyncio.run(scenario(True)) == []


def test_engine_process_store_has_a_small_page_cache(url):
    from trunkline.web.bootstrap import ENGINE_PAGE_CACHE_KIB, engine_process

    store = Store(SqliteDriver(url), Cipher(new_key()))
    try:
        before = store.driver._db.execute("PRAGMA cache_size").fetchone()[0]
        assert before != -ENGINE_PAGE_CACHE_KIB
        engine_process(store)
        size = store.driver._db.execute("PRAGMA cache_size").fetchone()[0]
        assert size == -ENGINE_PAGE_CACHE_KIB
        assert store.driver._db.execute("PRAGMA mmap_size").fetchone()[0] == 0
        assert store.driver._db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        assert "_aead" in vars(store.cipher)  # cryptography loaded at start
    finally:
        asyncio.run(store.close())


def test_a_writer_cancelled_while_its_commit_waits_leaves_the_group_commit_whole(url):
    """Cancelling one writer awaiting the shared COMMIT cancels that writer only: its rows
    and the others' are committed, and the others return normally."""

    async def scenario():
        driver = SqliteDriver(url)
        try:

            async def writer(name: str) -> str:
                async with driver.transaction() as tx:
                    await tx.execute(
                        "INSERT INTO event_journal (portal_id, event, outcome, at)"
                        " VALUES (1, ?, 'refused', 1.0)",
                        (name,),
                    )
                return name

            tasks = [asyncio.create_task(writer(name)) for name in ("a", "b", "c")]
            await asyncio.sleep(0)  # all three wrote and wait for the COMMIT
            tasks[1].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await driver.close()
        with sqlite3.connect(url.sqlite_path) as other:
            rows = other.execute("SELECT event FROM event_journal ORDER BY id").fetchall()
        other.close()
        return results, [row[0] for row in rows]

    results, committed = asyncio.run(scenario())
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], asyncio.CancelledError)
    assert committed == ["a", "b", "c"]
