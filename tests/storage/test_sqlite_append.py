"""SQLite ``append``: rows written with the group commit, in one statement before COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from trunkline.storage.driver import DatabaseUnavailableError, SqliteDriver
from trunkline.storage.migrate import upgrade
from trunkline.storage.url import DatabaseUrl

INSERT = "INSERT INTO event_journal (portal_id, event, outcome, at) VALUES "


@pytest.fixture
def url(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    upgrade(url)
    return url


def events(url: DatabaseUrl) -> list[str]:
    """The journal's events as a second connection sees them (only what was committed)."""
    with sqlite3.connect(url.sqlite_path) as other:
        rows = other.execute("SELECT event FROM event_journal ORDER BY id").fetchall()
    other.close()
    return [row[0] for row in rows]


def test_append_writes_a_group_commits_rows_in_one_statement(url, monkeypatch):
    async def scenario() -> list[object]:
        driver = SqliteDriver(url)
        statements: list[str] = []
        run = driver._run

        def counting(sql, params):
            statements.append(sql)
            return run(sql, params)

        monkeypatch.setattr(driver, "_run", counting)

        async def writer(name: str) -> str:
            async with driver.transaction() as tx:
                await tx.append(INSERT, (1, name, "refused", 1.0))
                await tx.append(INSERT, (1, name + "-2", "refused", 1.0))
                if name == "bad":
                    raise RuntimeError("writer failed after its rows")
            return name

        results = await asyncio.gather(
            *(writer(name) for name in ("a", "bad", "c")), return_exceptions=True
        )
        await driver.close()
        inserts = [sql for sql in statements if sql.startswith(INSERT)]
        assert len(inserts) == 1 and inserts[0].count("(?, ?, ?, ?)") == 4
        assert statements.index(inserts[0]) == statements.index("COMMIT") - 1
        return results

    results = asyncio.run(scenario())
    assert results[0] == "a" and results[2] == "c" and isinstance(results[1], RuntimeError)
    assert events(url) == ["a", "a-2", "c", "c-2"]


def test_append_outside_a_transaction_writes_at_once(url):
    async def scenario() -> None:
        driver = SqliteDriver(url)
        await driver.append(INSERT, (1, "alone", "refused", 1.0))
        assert events(url) == ["alone"]
        await driver.close()

    asyncio.run(scenario())


def test_append_that_fails_fails_its_whole_group_commit(url):
    async def scenario() -> list[object]:
        driver = SqliteDriver(url)

        async def writer(name: str, insert: str) -> str:
            async with driver.transaction() as tx:
                await tx.execute(
                    "INSERT INTO event_journal (portal_id, event, outcome, at) VALUES (?, ?, ?, ?)",
                    (1, name, "refused", 1.0),
                )
                await tx.append(insert, (1, name, "refused", 1.0))
            return name

        results = await asyncio.gather(
            writer("a", INSERT),
            writer("b", "INSERT INTO no_such_table (portal_id, event, outcome, at) VALUES "),
            return_exceptions=True,
        )
        # The connection is usable afterwards: the next writer commits.
        assert await writer("after", INSERT) == "after"
        await driver.close()
        return results

    results = asyncio.run(scenario())
    assert all(isinstance(result, DatabaseUnavailableError) for result in results)
    assert events(url) == ["after", "after"]


def test_an_insert_with_its_own_group_repeats_it():
    from trunkline.storage.driver import values_sql

    assert values_sql(INSERT, 2, 2) == INSERT + "(?, ?), (?, ?)"
    own = INSERT + "(?, ?, 'refused', NULL)"
    assert values_sql(own, 2, 3) == INSERT + ", ".join(["(?, ?, 'refused', NULL)"] * 3)
