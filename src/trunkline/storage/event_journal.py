"""The delivery journal: one line per delivery attempt or refusal of an event
(``storage/event_schema.py``: ``event_journal``).

Rules:

* A line is written in the transaction that finishes or refuses its outbox row (or that
  raised an event nobody listens to), so a line exists exactly when its outcome does.
* The journal outlives portals (no foreign key): resets and snapshot restores keep it.
* Lines older than ``event_journal_days`` are deleted by the deliverers (``trim``).
* Reads come newest first, or, with ``after``, oldest first from that id on (``--follow``).
* The ``(event, outcome)`` index holds delivery attempts only (``ATTEMPTS`` below:
  not the refusals, most of them the "no binding" line of every unbound event): a read of
  another outcome states that condition so SQLite may use it; refusals are read by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from trunkline.domain.events import JournalEntry, JournalQuery
from trunkline.storage.driver import Connection, Driver
from trunkline.storage.rows import columns

# The rows the journal's (event, outcome) index holds (event_schema.py); a query that wants
# it states this condition verbatim. Here, not in event_schema.py, so that serving never
# imports SQLAlchemy (tests/e2e/test_serve_imports.py).
ATTEMPTS = "outcome <> 'refused'"

JOURNAL_COLUMNS = (
    "id",
    "portal_id",
    "event",
    "outcome",
    "reason",
    "handler",
    "outbox_id",
    "install_id",
    "binding_id",
    "app_id",
    "attempt",
    "status",
    "duration_ms",
    "at",
)


def _entry(row: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        id=int(row[0]),
        portal_id=int(row[1]),
        event=row[2],
        outcome=row[3],
        reason=row[4],
        handler=row[5],
        outbox_id=row[6],
        install_id=row[7],
        binding_id=row[8],
        app_id=row[9],
        attempt=int(row[10]),
        status=row[11],
        duration_ms=float(row[12]),
        at=float(row[13]),
    )


JOURNAL_INSERT = f"INSERT INTO event_journal ({columns(JOURNAL_COLUMNS[1:])}) VALUES "

# A refusal's constant values written in the SQL, not bound (each None bound costs sqlite3
# an adapter call): (portal_id, event, reason, at) are its only parameters.
_REFUSAL_INSERT = JOURNAL_INSERT + "(?, ?, 'refused', ?, '', NULL, NULL, NULL, '', 0, NULL, 0.0, ?)"


async def write_refusal(
    conn: Connection, portal_id: int, event: str, reason: str, at: float
) -> None:
    """Add the line ``JournalEntry(portal_id, event, "refused", reason, at=at)`` in the
    caller's transaction, its values made directly (the "no binding" line of every unbound
    event). ``Connection.append``: with SQLite, one statement for the lines of a whole group
    commit, just before it."""
    await conn.append(_REFUSAL_INSERT, (portal_id, event, reason, at))


_ROW = f"({', '.join('?' for _ in JOURNAL_COLUMNS[1:])})"


async def write_entries(conn: Connection, entries: Sequence[JournalEntry]) -> None:
    """Add journal lines in as few statements as may be (100 rows each)."""
    for first in range(0, len(entries), 100):
        chunk = entries[first : first + 100]
        values = [value for entry in chunk for value in _values(entry)]
        await conn.execute(JOURNAL_INSERT + ", ".join(_ROW for _ in chunk), values)


def _values(entry: JournalEntry) -> tuple[object, ...]:
    return (
        entry.portal_id,
        entry.event,
        entry.outcome,
        entry.reason,
        entry.handler,
        entry.outbox_id,
        entry.install_id,
        entry.binding_id,
        entry.app_id,
        entry.attempt,
        entry.status,
        entry.duration_ms,
        entry.at,
    )


class JournalReads:
    """The journal's reads and its trimming (mixed into ``storage.events.EventRepository``)."""

    driver: Driver

    async def trim(self, before: float, chunk: int = 1_000) -> int:
        """Delete the oldest lines written before ``before`` (application clock), by id
        from the lowest, stopping at the first younger line (lines are written in time
        order; after the virtual clock went back, a younger line shields older ones above
        it until it ages); ``chunk`` lines a statement; how many went."""
        deleted = 0
        while True:
            rows = await self.driver.fetch_all(
                "SELECT id, at FROM event_journal ORDER BY id LIMIT ?", (chunk,)
            )
            old = 0
            for _, at in rows:
                if float(at) >= before:
                    break
                old += 1
            if not old:
                return deleted
            last = int(rows[old - 1][0])
            deleted += await self.driver.execute("DELETE FROM event_journal WHERE id <= ?", (last,))
            if old < chunk:
                return deleted
            await asyncio.sleep(0)  # a long backlog does not hold the loop

    async def last_id(self) -> int:
        row = await self.driver.fetch_one("SELECT MAX(id) FROM event_journal")
        return int(row[0]) if row and row[0] is not None else 0

    async def journal(self, query: JournalQuery) -> list[JournalEntry]:
        where: list[str] = []
        params: list[object] = []
        for column, value in (
            ("portal_id", query.portal_id),
            ("event", query.event),
            ("outcome", query.outcome),
            ("app_id", query.app_id),
            ("handler", query.handler),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.outcome is not None and query.outcome != "refused":
            where.append(ATTEMPTS)  # implied by the outcome: lets the partial index serve
        if query.after is not None:
            where.append("id > ?")
            params.append(query.after)
        sql = f"SELECT {columns(JOURNAL_COLUMNS)} FROM event_journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id" + ("" if query.after is not None else " DESC") + " LIMIT ?"
        params.append(query.limit)
        return [_entry(r) for r in await self.driver.fetch_all(sql, params)]

    async def journal_of(self, outbox_ids: Sequence[int]) -> list[JournalEntry]:
        if not outbox_ids:
            return []
        marks = ", ".join("?" for _ in outbox_ids)
        found = await self.driver.fetch_all(
            f"SELECT {columns(JOURNAL_COLUMNS)} FROM event_journal"
            f" WHERE outbox_id IN ({marks}) ORDER BY id",
            list(outbox_ids),
        )
        return [_entry(r) for r in found]

    async def count(
        self, event: str, outcome: str, *, portal_id: int | None = None, after: int = 0
    ) -> int:
        """Journal lines of ``event`` with ``outcome`` (of a portal; above id ``after``)."""
        sql = "SELECT COUNT(*) FROM event_journal WHERE event = ? AND outcome = ? AND id > ?"
        params: list[object] = [event, outcome, after]
        if outcome != "refused":
            sql += f" AND {ATTEMPTS}"  # implied by the outcome: lets the partial index serve
        if portal_id is not None:
            sql += " AND portal_id = ?"
            params.append(portal_id)
        row = await self.driver.fetch_one(sql, params)
        return int(row[0]) if row else 0
