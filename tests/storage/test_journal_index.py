"""The delivery journal's (event, outcome) index holds delivery attempts only (migration
0022): refusals, the "no binding" line of every unbound event among them, stay out of it,
and every read still finds them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from trunkline.domain.events import JournalEntry, JournalQuery
from trunkline.storage.driver import SqliteDriver
from trunkline.storage.event_journal import write_entries, write_refusal
from trunkline.storage.migrate import upgrade
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

LINES = [
    JournalEntry(1, "ONVOXIMPLANTCALLINIT", "refused", "no binding", at=1.0),
    JournalEntry(1, "ONVOXIMPLANTCALLINIT", "delivered", handler="http://h/", at=2.0),
    JournalEntry(2, "ONVOXIMPLANTCALLINIT", "refused", "app not installed", at=3.0),
    JournalEntry(1, "ONVOXIMPLANTCALLEND", "failed", "HTTP 500", status=500, at=4.0),
    JournalEntry(1, "ONVOXIMPLANTCALLINIT", "refused", "no binding", at=5.0),
]


@pytest.fixture
def url(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    upgrade(url)
    return url


@asynccontextmanager
async def opened(url: DatabaseUrl) -> AsyncIterator[Store]:
    store = Store(SqliteDriver(url), Cipher(new_key()))
    try:
        yield store
    finally:
        await store.driver.close()


def test_reads_of_every_outcome_find_their_lines(url):

    async def scenario():
        async with opened(url) as store:
            async with store.driver.transaction() as tx:
                await write_entries(tx, LINES)
            events = store.events
            counts = (
                await events.count("ONVOXIMPLANTCALLINIT", "refused"),
                await events.count("ONVOXIMPLANTCALLINIT", "refused", portal_id=1),
                await events.count("ONVOXIMPLANTCALLINIT", "refused", after=1),
                await events.count("ONVOXIMPLANTCALLINIT", "delivered"),
                await events.count("ONVOXIMPLANTCALLEND", "failed", portal_id=1),
                await events.count("ONVOXIMPLANTCALLEND", "delivered"),
            )
            refused = await events.journal(
                JournalQuery(event="ONVOXIMPLANTCALLINIT", outcome="refused")
            )
            delivered = await events.journal(JournalQuery(outcome="delivered", after=0))
            return counts, [e.at for e in refused], [e.at for e in delivered]

    counts, refused, delivered = asyncio.run(scenario())
    assert counts == (3, 2, 2, 1, 1, 0)
    assert refused == [5.0, 3.0, 1.0]
    assert delivered == [2.0]


def test_the_index_leaves_refusals_out_and_serves_attempt_counts(url):
    with sqlite3.connect(url.sqlite_path) as db:
        db.executemany(
            "INSERT INTO event_journal (portal_id, event, outcome, at) VALUES (1, ?, ?, 1.0)",
            [("E", "refused")] * 3 + [("E", "delivered")],
        )
        # A partial index cannot answer for rows it may lack (the refusals).
        with pytest.raises(sqlite3.OperationalError, match="no query solution"):
            db.execute(
                "SELECT COUNT(*) FROM event_journal INDEXED BY ix_event_journal_event"
                " WHERE event = 'E'"
            )
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM event_journal"
            " WHERE event = ? AND outcome = ? AND id > ? AND outcome <> 'refused'",
            ("E", "delivered", 0),
        ).fetchall()
    db.close()
    assert "ix_event_journal_event" in " ".join(str(row[-1]) for row in plan)


def test_a_refusal_line_is_the_entry_it_stands_for(url):
    """write_refusal's values are JournalEntry's (its defaults included), column for column."""

    async def scenario():
        async with opened(url) as store:
            async with store.driver.transaction() as tx:
                await write_refusal(tx, 7, "ONVOXIMPLANTCALLEND", "no binding", 12.5)
                await write_entries(
                    tx, [JournalEntry(7, "ONVOXIMPLANTCALLEND", "refused", "no binding", at=12.5)]
                )
            return await store.events.journal(JournalQuery())

    second, first = asyncio.run(scenario())
    assert first.id != second.id
    assert replace(first, id=0) == replace(second, id=0)
