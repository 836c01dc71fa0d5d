"""Change marks for the caches: when may cached portals, users, webhooks or lines be stale?

Rules:

* Two marks: ``change_mark`` moves whenever data other than lines may have changed (the
  authentication cache keys on it), ``data_mark`` whenever any data may have changed (the
  answer caches of ``voximplant.sip.get`` and ``voximplant.statistic.get``). A cache entry
  is used only while the mark it was stored under is still the mark, and the mark is read
  before the data, so an entry is never kept past a change. A mark of None means "cache
  nothing".
* SQLite: ``PRAGMA data_version`` plus this connection's own writes, read synchronously for
  about 2 µs (storage/driver.py), and only when the WAL index's header moved since the last
  read: about 0.2 µs otherwise (storage/walindex.py).
* PostgreSQL (``ChangeMarks``): the mark is a per-schema change counter of the tables the
  cache reads (storage/mark_schema.py: one counter per group, ``GROUPS``, moved by triggers
  in the writing transaction), plus this process's own write statements (counted at once,
  before they commit). The counters are read **once per call** (per asyncio task), by a
  read that started after the call did, so a change committed through any node before a
  call begins is seen by that call: a webhook disabled through node A is refused by node
  B's next call. Concurrent calls share one read: a call arriving while a read is in flight
  waits for the next one, so under load one round trip serves many calls. Writes to other
  tables (the request journal, engine leases, calls in progress), to other schemas and to
  other databases on the server move no counter.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

__all__ = ["GROUPS", "ChangeMarks"]

# Statements that change nothing a cache reads (data_mark, change_mark): reads, and the
# request journal's writes (storage/journal.py: no cache reads the journal).
_READS = ("SELECT ", "PRAGMA ", "INSERT INTO requests ", "DELETE FROM requests ")
# Statements that never change portals, users, webhooks, apps or tokens (change_mark).
# Anything else, whatever it is, counts as a change: a missing prefix costs a cache miss.
# ROLLBACK TO is not here: it may undo a change to any of them that a cache has seen.
_LINE_DATA = (
    "BEGIN",
    "COMMIT",
    "SAVEPOINT ",
    "RELEASE ",
    "INSERT INTO lines ",
    "UPDATE lines ",
    "DELETE FROM lines ",
    "INSERT INTO bindings ",
    "UPDATE bindings ",
    "DELETE FROM bindings ",
    # Users' phone bindings and the registration history: the registrar's own hot writes;
    # its cache of phone accounts keys on the change mark (engine/phones.py).
    "INSERT INTO phone_bindings ",
    "UPDATE phone_bindings ",
    "DELETE FROM phone_bindings ",
    "INSERT INTO registration_history ",
    "DELETE FROM registration_history ",
    "UPDATE portals SET last_config_id = last_config_id + 1 ",
    "UPDATE portals SET last_reg_id = last_reg_id + 1 ",
    # Calls and their records (storage/calls.py): the hot writes of telephony.
    "INSERT INTO calls ",
    "UPDATE calls ",
    "DELETE FROM calls ",
    "INSERT INTO call_statistics ",
    "UPDATE call_statistics ",
    "INSERT INTO call_files ",
    "INSERT INTO call_transcripts ",
    # The running processes and the cluster's leases: no cache reads them.
    "INSERT INTO processes ",
    "UPDATE processes ",
    "DELETE FROM processes ",
    "INSERT INTO engine_nodes ",
    "UPDATE engine_nodes ",
    "DELETE FROM engine_nodes ",
    "INSERT INTO engine_buckets ",
    "UPDATE engine_buckets ",
    # Events raised and delivered (storage/events.py): written with every call event.
    "INSERT INTO event_outbox ",
    "WITH picked AS (SELECT id FROM event_outbox ",  # a deliverer's claim
    "UPDATE event_outbox ",
    "DELETE FROM event_outbox ",
    "INSERT INTO event_journal ",
    "INSERT INTO event_offline ",
)


GROUPS = ("accounts", "lines", "calls", "phones")  # the counters, in the order they are read
_READ_COUNTERS = "SELECT " + ", ".join(f"sum({g})::bigint" for g in GROUPS) + " FROM cache_marks"
_CHANGE_GROUP = GROUPS.index("accounts")


class ChangeMarks:
    """The marks of one PostgreSQL driver (see the rules above)."""

    def __init__(self) -> None:
        self.changes = 0
        self.all_changes = 0
        self.reads = 0  # counter reads made (shared by the calls that waited for them)
        self._seen: weakref.WeakKeyDictionary[asyncio.Task[Any], tuple[int, ...]] = (
            weakref.WeakKeyDictionary()
        )
        self._reading = False
        self._queued: asyncio.Future[tuple[int, ...]] | None = None
        self._task: asyncio.Future[None] | None = None

    def wrote(self, sql: str) -> None:
        """This process ran a statement that may change data (not a SELECT)."""
        self.all_changes += 1
        if not sql.startswith(_LINE_DATA):
            self.changes += 1

    async def change_mark(self, pool: Any) -> tuple[int, int]:
        return (await self._counters(pool))[_CHANGE_GROUP], self.changes

    async def data_mark(self, pool: Any, group: str) -> tuple[int, int]:
        return (await self._counters(pool))[GROUPS.index(group)], self.all_changes

    async def _counters(self, pool: Any) -> tuple[int, ...]:
        task = asyncio.current_task()
        if task is not None:
            seen = self._seen.get(task)
            if seen is not None:
                return seen
        if self._reading:
            if self._queued is None:
                self._queued = asyncio.get_running_loop().create_future()
            future = self._queued  # the read in flight began before this call: the next one
        else:
            self._reading = True
            future = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._reader(pool, future))
        value = await asyncio.shield(future)
        if task is not None:
            self._seen[task] = value
        return value

    async def _reader(self, pool: Any, first: asyncio.Future[tuple[int, ...]]) -> None:
        future: asyncio.Future[tuple[int, ...]] | None = first
        try:
            while future is not None:
                try:
                    row = await pool.fetchrow(_READ_COUNTERS)
                    self.reads += 1
                    future.set_result(tuple(row))
                except Exception as exc:
                    future.set_exception(exc)
                future, self._queued = self._queued, None
        finally:
            self._reading = False
