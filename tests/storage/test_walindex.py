"""storage/walindex.py: SQLite's data_version read again only when the WAL index's header
moved. Another connection's or process's commit is still seen by the next mark; this
connection's own commits, checkpoints and WAL restarts keep the value right; anything
unsure falls back to the PRAGMA."""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from trunkline.storage.driver import SqliteDriver
from trunkline.storage.migrate import upgrade
from trunkline.storage.url import DatabaseUrl
from trunkline.storage.walindex import DataVersion, WalIndex, change_count

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/maps"), reason="the index is found through /proc"
)

INSERT = "INSERT INTO event_journal (portal_id, event, outcome, at) VALUES (1, 'E', 'refused', 1)"


@pytest.fixture
def url(tmp_path: Any) -> DatabaseUrl:
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    upgrade(url)
    return url


def counted(driver: SqliteDriver) -> list[int]:
    """Count the driver's PRAGMA data_version reads (one entry each)."""
    reads: list[int] = []
    read = driver._pragma_version

    def counting() -> int:
        reads.append(1)
        return read()

    driver._version._read = counting
    return reads


def other_commit(url: DatabaseUrl) -> None:
    other = sqlite3.connect(url.sqlite_path)
    other.execute(INSERT)
    other.commit()
    other.close()


def test_the_index_is_found_for_a_file_and_never_for_memory(url: DatabaseUrl) -> None:
    async def scenario() -> None:
        driver = SqliteDriver(url)
        assert driver._version._view is not None
        wal = WalIndex.find(url.sqlite_path)
        assert wal is not None
        header = wal.header()
        assert header is not None and len(header) == 96
        await driver.close()
        assert driver._version._view is None  # never read once the connection is closed
        memory = SqliteDriver(DatabaseUrl("sqlite:///:memory:"))
        assert memory._version._view is None
        await memory.close()

    asyncio.run(scenario())


def test_another_connections_commit_moves_the_mark_and_nothing_else_reads(
    url: DatabaseUrl,
) -> None:
    async def scenario() -> None:
        driver = SqliteDriver(url)
        reads = counted(driver)
        first = driver.change_mark()
        assert driver.change_mark() == first and driver.data_mark()[0] == first[0]
        read_before = len(reads)
        assert driver.change_mark() == first
        assert len(reads) == read_before  # the header stands: no PRAGMA
        other_commit(url)
        moved = driver.change_mark()
        assert moved[0] != first[0] and len(reads) == read_before + 1
        assert driver.change_mark() == moved and len(reads) == read_before + 1
        await driver.close()

    asyncio.run(scenario())


def test_another_process_commit_moves_the_mark(url: DatabaseUrl) -> None:
    async def scenario() -> None:
        driver = SqliteDriver(url)
        before = driver.change_mark()
        assert driver.change_mark() == before
        code = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            f" c.execute({INSERT!r}); c.commit(); c.close()"
        )
        subprocess.run([sys.executable, "-c", code, url.sqlite_path], check=True)
        assert driver.change_mark()[0] != before[0]
        await driver.close()

    asyncio.run(scenario())


def test_own_commits_keep_the_value_without_a_read(url: DatabaseUrl) -> None:
    async def scenario() -> None:
        driver = SqliteDriver(url)
        reads = counted(driver)
        before = driver.data_mark()[0]
        for _ in range(3):
            async with driver.transaction():
                await driver.execute(INSERT)
        read_before = len(reads)
        assert driver.data_mark()[0] == before and len(reads) == read_before
        assert driver._pragma_version() == before
        other_commit(url)
        assert driver.data_mark()[0] != before
        await driver.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("seed", range(4))
def test_interleaved_commits_checkpoints_and_restarts(url: DatabaseUrl, seed: int) -> None:
    """Random steps: another connection's commits and checkpoints (passive, restart,
    truncate), this connection's writes (group commits, a rolled-back writer, statements
    of their own) and reads. After each, the mark is the PRAGMA's value (a truncate may
    move the PRAGMA's with no commit: then the mark may lag, but any later commit by
    another connection still moves it)."""

    async def scenario() -> None:
        rng = random.Random(seed)
        driver = SqliteDriver(url)
        other = sqlite3.connect(url.sqlite_path, isolation_level=None, timeout=0.1)
        last = driver._data_version()
        exact = True
        for _ in range(150):
            step = rng.choice(
                ["other", "other", "own", "own", "alone", "failed", "empty", "read", "ckpt"]
            )
            committed = False
            if step == "other":
                other.execute(INSERT)
                committed = True
            elif step == "own":
                async with driver.transaction():
                    await driver.execute(INSERT)
                    if rng.random() < 0.5:
                        driver.change_mark()  # read in the group commit: held
            elif step == "alone":
                await driver.execute(INSERT)
            elif step == "failed":
                with pytest.raises(RuntimeError):
                    async with driver.transaction():
                        await driver.execute(INSERT)
                        raise RuntimeError("rolled back")
                for _ in range(3):  # its group commit's COMMIT, a loop turn later
                    await asyncio.sleep(0)
            elif step == "empty":
                async with driver.transaction():
                    pass
            elif step == "read":
                await driver.fetch_all("SELECT count(*) FROM event_journal")
            else:
                mode = rng.choice(["PASSIVE", "RESTART", "TRUNCATE"])
                other.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
                exact = exact and mode != "TRUNCATE"
            mark = driver._data_version()
            if committed:
                assert mark != last, step
            if exact:
                assert mark == driver._pragma_version(), step
            last = mark
        assert driver._version._view is not None  # still read: never found wrong
        other.close()
        await driver.close()

    asyncio.run(scenario())


def test_a_header_that_moved_costs_the_pragma_and_a_dead_map_is_dropped(
    url: DatabaseUrl,
) -> None:
    """Any byte of the header changed since the last read costs the PRAGMA; a map that this
    connection's own commit leaves unchanged is not the index: it is never read again."""

    async def scenario() -> None:
        driver = SqliteDriver(url)
        real = WalIndex.find(url.sqlite_path)
        assert real is not None
        fake = (ctypes.c_char * 96).from_buffer_copy(real.raw())
        driver._version = DataVersion(driver._pragma_version, WalIndex(fake))
        reads = counted(driver)
        driver.change_mark()
        driver.change_mark()
        assert len(reads) == 1
        for offset in (0, 47, 48, 95):
            fake[offset] = bytes([fake.raw[offset] ^ 1])
            driver.change_mark()
            driver.change_mark()
        assert len(reads) == 5
        async with driver.transaction():
            await driver.execute(INSERT)
        assert driver._version._view is None  # our commit did not move it
        before = driver.change_mark()
        other_commit(url)
        assert driver.change_mark()[0] != before[0]
        await driver.close()

    asyncio.run(scenario())


def test_change_count_reads_the_commit_counter(url: DatabaseUrl) -> None:
    async def scenario() -> None:
        driver = SqliteDriver(url)
        wal = WalIndex.find(url.sqlite_path)
        assert wal is not None
        before = change_count(wal.raw())
        other_commit(url)
        other_commit(url)
        assert change_count(wal.raw()) == before + 2
        await driver.close()

    asyncio.run(scenario())


def test_a_commit_just_after_a_read_or_after_our_commit_is_still_seen(url: DatabaseUrl) -> None:
    """Another connection commits between the PRAGMA and the next step, or between this
    connection's COMMIT and the header read after it: the header kept is the one read
    before (so it differs), and a count of two commits is not taken for our own one."""

    async def scenario() -> None:
        driver = SqliteDriver(url)
        read = driver._pragma_version

        def racing_read() -> int:
            value = read()
            other_commit(url)  # lands after the PRAGMA read its snapshot
            return value

        driver._version._read = racing_read
        before = driver.change_mark()
        driver._version._read = read
        assert driver.change_mark()[0] != before[0]
        run = driver._run

        def racing_run(sql: str, params: Any) -> Any:
            result = run(sql, params)
            if sql == "COMMIT":
                other_commit(url)  # lands before the header is read after our COMMIT
            return result

        driver._run = racing_run  # type: ignore[method-assign]
        before = driver.change_mark()
        async with driver.transaction():
            await driver.execute(INSERT)
        driver._run = run  # type: ignore[method-assign]
        assert driver.change_mark()[0] != before[0]
        await driver.close()

    asyncio.run(scenario())
