"""The repository of calls: live calls, their statistics records, record files and
transcripts.

Rules kept here, where the rows are:

* A call's end is one transaction (:meth:`CallRepository.end`): the live row is deleted
  and the statistics row inserted; a call someone else ended meanwhile deletes nothing
  and the caller is told (None), so a call ends once.
* Writes take the open connection of the caller's transaction (``transaction()``), so a
  service can write a call, a CRM lead and the events they raise together or not at all.
* A statistics page reads ``(portal_id, id)``; a first page shorter than a page is the
  whole answer (no COUNT); filter values are always bound (``storage/sql.py``). Listed
  records are kept per row value (:func:`_listed`), so an unchanged row is decoded once.
* A whole page (its total and records) is kept while no data at all has changed, as
  ``voximplant.sip.get``'s listings are (``storage/lines.py``): the driver's data mark
  (SQLite ``data_version`` plus this connection's writes; PostgreSQL's shared snapshot
  counter, ``storage/changes.py``) is read before the queries and checked on every hit, so
  a write by any process empties it for the next read.
* A live call this process stored is kept (its values, its row id) until it ends here, so
  ending it deletes the row by (portal, CALL_ID, row id) and reads back only what may have
  changed since (``answered_at``, ``answered_by``): committed row ids are never reused, so
  the row with that id holds the values kept. A call ended or changed elsewhere is found
  by the plain delete that follows a miss; after any rollback on this connection (which
  gives row ids back) kept calls are not trusted (:meth:`CallRepository.take_live`).
* Timestamps are the application clock's, handed in by the service.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

from trunkline.domain.calls import CallRecord, LiveCall, NewCall, RecentKey
from trunkline.domain.query import Field
from trunkline.domain.statistics import StatQuery
from trunkline.storage.call_rows import (
    CALL_ROW,
    INSERT_CALL,
    INSERT_COLUMNS,
    INSERT_RECORD,
    SELECT_CALLS,
    SELECT_RECORDS,
    call_from_row,
    call_values,
    money,
    record_from_row,
    record_values,
)
from trunkline.storage.driver import Connection, Driver, Row
from trunkline.storage.sql import Dialect, SqlBuilder


def _order(sort: Field | None, descending: bool, dialect: Dialect) -> str:
    if sort is None or sort.name == "id":
        return " ORDER BY id DESC" if descending and sort else " ORDER BY id"
    col = sort.name
    target = f'{col} COLLATE "C"' if dialect == "postgres" and sort.kind == "str" else col
    if descending:
        return f" ORDER BY ({col} IS NULL), {target} DESC, id DESC"
    return f" ORDER BY ({col} IS NULL) DESC, {target}, id"


def stat_where(query: StatQuery, dialect: Dialect) -> tuple[str, list[object]]:
    """The WHERE clause of a statistics query: the portal, the visible users, every
    condition; values bound."""
    builder = SqlBuilder(dialect)
    parts = [f"portal_id = {builder.bind(query.portal_id)}"]
    if query.users is not None:
        marks = ", ".join(builder.bind(user) for user in query.users) or "NULL"
        parts.append(f"portal_user_id IN ({marks})")
    parts.extend(builder.condition(cond) for cond in query.conditions)
    return " WHERE " + " AND ".join(parts), builder.params


_NEW_CALL_FIELDS = tuple(f.name for f in fields(NewCall))
_NEW_CALL_VALUES = attrgetter(*_NEW_CALL_FIELDS)
_LISTED: dict[tuple[object, ...], CallRecord] = {}
_LISTED_MAX = 32_768  # rows; a kept row and its item cost about 3 KB (bench/telephony)
_COST = INSERT_COLUMNS.index("cost")
_LIVE_MAX = 4_096  # live calls kept per process (all forgotten when full: a miss is correct)
_TAKE_KEPT = (
    "DELETE FROM calls WHERE portal_id = ? AND call_id = ? AND id = ?"
    " RETURNING answered_at, answered_by"
)


def _listed(row: Row) -> CallRecord:
    """The record of a listed row, kept per row value: an unchanged statistics row (the
    same values, read by any worker) hands out the same record object, which the listing
    then encodes once. Attaching a record or transcript changes the row, so the changed
    row is a new key. Records handed out here are shared: nothing may mutate them."""
    key = tuple(row)
    found = _LISTED.get(key)
    if found is None:
        if len(_LISTED) >= _LISTED_MAX:
            _LISTED.clear()
        found = _LISTED[key] = record_from_row(row)
    return found


class CallRepository:
    # Pages (their records are the shared ones of _listed): 51,200 rows at most, which
    # methods/statistic.py keeps the encoded items and pages of (about 3 KB a row with the
    # items; each kept page's JSON added 35 MB of RSS for 1,000 pages, bench/telephony).
    page_cache_size = 1_024

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._pages: dict[
            tuple[object, ...], tuple[object, int | None, tuple[CallRecord, ...]]
        ] = {}
        # (portal id, CALL_ID) -> (row id, the driver's rollbacks then, NewCall's values)
        self._live: dict[tuple[int, str], tuple[int, int, tuple[Any, ...]]] = {}

    def transaction(self) -> Any:
        """A write transaction; its connection is handed to the write methods."""
        return self.driver.transaction()

    # -- live calls -------------------------------------------------------------

    async def insert_call(
        self,
        conn: Connection,
        portal_id: int,
        new: NewCall,
        *,
        answered_at: float | None,
        now: float,
    ) -> LiveCall | None:
        """The stored call; None when its CALL_ID is taken in the portal (the
        transaction stays usable: nothing failed)."""
        row = await conn.fetch_one(INSERT_CALL, call_values(portal_id, new, answered_at, now))
        if row is None:
            return None
        # The stored call is what was written (no read back): the new call's values, its id
        # (NewCall's fields, in order, are LiveCall's first: one C call reads them all).
        # (mypy cannot tell that the star covers only NewCall's fields.)
        values = _NEW_CALL_VALUES(new)
        row_id = int(row[0])
        live = self._live
        if len(live) >= _LIVE_MAX:  # (calls ended by other workers are never taken here)
            live.clear()  # (dropping the oldest one by one scans the dict's deleted slots)
        live[portal_id, new.call_id] = (row_id, self.driver.rollbacks, values)
        return LiveCall(  # type: ignore[misc]
            *values, portal_id=portal_id, id=row_id, answered_at=answered_at
        )

    async def live_call(
        self, portal_id: int, call_id: str, conn: Connection | None = None
    ) -> LiveCall | None:
        row = await (conn or self.driver).fetch_one(
            SELECT_CALLS + " WHERE portal_id = ? AND call_id = ?", (portal_id, call_id)
        )
        return call_from_row(row) if row else None

    async def recent_call(self, portal_id: int, key: RecentKey) -> LiveCall | None:
        """The newest live call matching ``key`` (the re-registration check).

        Its id is looked for first and the row read by id only when there is one (almost
        never: a new call matches nothing): sqlite3 names every column of a statement on
        each run, 21k instructions for the 27 of a call (bench/telephony/README.md). None
        of the matched columns ever changes, and row ids are never reused, so the row by
        that id is the call found; one ended between the two reads is looked for again in
        one statement, as before."""
        sql = (
            " WHERE portal_id = ? AND user_id = ? AND phone_number = ?"
            " AND call_type = ? AND started_at > ?"
        )
        params: list[object] = [
            portal_id,
            key.user_id,
            key.phone_number,
            int(key.call_type),
            key.since,
        ]
        if key.rest_app_id is None:
            sql += " AND rest_app_id IS NULL"
        else:
            sql += " AND rest_app_id = ?"
            params.append(key.rest_app_id)
        if key.line_id is not None:
            sql += " AND line_id = ?"
            params.append(key.line_id)
        if key.external_call_id is not None:
            sql += " AND external_call_id = ?"
            params.append(key.external_call_id)
        sql += " ORDER BY id DESC LIMIT 1"
        found = await self.driver.fetch_one("SELECT id FROM calls" + sql, params)
        if found is None:
            return None
        row = await self.driver.fetch_one(SELECT_CALLS + " WHERE id = ?", (found[0],))
        if row is None:  # ended meanwhile (by another process)
            row = await self.driver.fetch_one(SELECT_CALLS + sql, params)
        return call_from_row(row) if row else None

    async def answer(
        self, conn: Connection, portal_id: int, call_id: str, user_id: int, at: float
    ) -> bool:
        """Mark a live, unanswered call answered by ``user_id``; False when there is none."""
        changed = await conn.execute(
            "UPDATE calls SET answered_at = ?, answered_by = ?"
            " WHERE portal_id = ? AND call_id = ? AND answered_at IS NULL",
            (at, user_id, portal_id, call_id),
        )
        return changed > 0

    async def end(self, conn: Connection, record: CallRecord, now: float) -> CallRecord | None:
        """Delete the live call and store its record; None when the call is gone."""
        self._live.pop((record.portal_id, record.call_id), None)
        deleted = await conn.execute(
            "DELETE FROM calls WHERE portal_id = ? AND call_id = ?",
            (record.portal_id, record.call_id),
        )
        if not deleted:
            return None
        return await self.insert_record(conn, record, now)

    async def take_live(self, conn: Connection, portal_id: int, call_id: str) -> LiveCall | None:
        """Delete a live call and hand back what it was, in one statement; None when there
        is none (never registered, or ended meanwhile). A call kept since this process
        stored it is deleted by its row id too and only its changeable columns are read;
        kept values are not trusted after a rollback (a rolled-back insert's row id, and so
        its CALL_ID with other values, may be stored again by any process)."""
        kept = self._live.pop((portal_id, call_id), None)
        if kept is not None and kept[1] == self.driver.rollbacks:
            row_id, _, values = kept
            taken = await conn.fetch_one(_TAKE_KEPT, (portal_id, call_id, row_id))
            if taken is not None:
                answered_at = taken[0]
                call = LiveCall(  # type: ignore[misc]
                    *values,
                    portal_id=portal_id,
                    id=row_id,
                    answered_at=None if answered_at is None else float(answered_at),
                )
                call.answered_by = taken[1]
                call.started_at = float(call.started_at)  # as read from the row
                return call
        row = await conn.fetch_one(
            f"DELETE FROM calls WHERE portal_id = ? AND call_id = ? RETURNING {CALL_ROW}",
            (portal_id, call_id),
        )
        return call_from_row(row) if row else None

    async def insert_record(self, conn: Connection, record: CallRecord, now: float) -> CallRecord:
        """Store a record (``end`` stores the record of a live call)."""
        values = record_values(record, now)
        values[_COST] = money(record.cost, self.driver.dialect)
        row = await conn.fetch_one(INSERT_RECORD, values)
        assert row is not None
        record.id = int(row[0])
        return record

    # -- statistics -------------------------------------------------------------

    async def record(
        self, portal_id: int, call_id: str, conn: Connection | None = None
    ) -> CallRecord | None:
        row = await (conn or self.driver).fetch_one(
            SELECT_RECORDS + " WHERE portal_id = ? AND call_id = ?", (portal_id, call_id)
        )
        return record_from_row(row) if row else None

    async def records(self, query: StatQuery) -> tuple[int | None, tuple[CallRecord, ...]]:
        """(total, page); total None when the query asks for no count. The answer is kept
        while no data has changed: the mark is read before the queries, so an answer is
        never kept past a change. A kept page is handed out itself (the same tuple each
        time, which ``methods/statistic.py`` keeps its encoded items by)."""
        dialect = self.driver.dialect
        where, params = stat_where(query, dialect)
        mark = self.driver.data_mark()
        if mark is None:
            mark = await self.driver.shared_data_mark("calls")
        # The values' types too: 1 and 1.0 hash alike but need not read alike.
        key = (
            where,
            *params,
            *map(type, params),
            query.sort,
            query.descending,
            query.limit,
            query.offset,
            query.count,
        )
        hit = self._pages.get(key)
        if hit is not None and hit[0] == mark:
            return hit[1], hit[2]
        total, page = await self._read_page(query, where, params)
        if mark is None:
            return total, page
        if len(self._pages) >= self.page_cache_size:
            self._pages.clear()
        self._pages[key] = (mark, total, page)
        return total, page

    async def _read_page(
        self, query: StatQuery, where: str, params: list[object]
    ) -> tuple[int | None, tuple[CallRecord, ...]]:
        dialect = self.driver.dialect
        rows = await self.driver.fetch_all(
            SELECT_RECORDS
            + where
            + _order(query.sort, query.descending, dialect)
            + " LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        )
        page = tuple([_listed(row) for row in rows])
        if not query.count:
            return None, page
        if query.offset == 0 and len(page) < query.limit:
            return len(page), page
        found = await self.driver.fetch_one("SELECT COUNT(*) FROM call_statistics" + where, params)
        assert found is not None
        return int(found[0]), page

    # -- records and transcripts --------------------------------------------------

    async def add_file(
        self,
        conn: Connection,
        portal_id: int,
        call_id: str,
        *,
        name: str,
        size: int,
        content_type: str,
        path: str,
        source_url: str | None,
        now: float,
    ) -> int:
        row = await conn.fetch_one(
            "INSERT INTO call_files (portal_id, call_id, name, size, content_type, path,"
            " source_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (portal_id, call_id, name, size, content_type, path, source_url, now),
        )
        assert row is not None
        return int(row[0])

    async def attach_file(
        self, conn: Connection, portal_id: int, call_id: str, file_id: int, url: str | None
    ) -> int | None:
        """Point the call's record at ``file_id`` (and its CALL_RECORD_URL at ``url`` when
        given); the file it pointed at before, if any."""
        row = await conn.fetch_one(
            "SELECT record_file_id FROM call_statistics WHERE portal_id = ? AND call_id = ?",
            (portal_id, call_id),
        )
        sets = "record_file_id = ?"
        params: list[object] = [file_id]
        if url is not None:
            sets += ", record_url = ?"
            params.append(url)
        await conn.execute(
            f"UPDATE call_statistics SET {sets} WHERE portal_id = ? AND call_id = ?",
            [*params, portal_id, call_id],
        )
        return None if row is None or row[0] is None else int(row[0])

    async def file(self, file_id: int) -> tuple[int, str, str, str] | None:
        """(portal id, name, content type, path) of a stored record file."""
        row = await self.driver.fetch_one(
            "SELECT portal_id, name, content_type, path FROM call_files WHERE id = ?", (file_id,)
        )
        return None if row is None else (int(row[0]), row[1], row[2], row[3])

    async def forget_file(self, conn: Connection, file_id: int) -> str | None:
        """Delete a file's row; its path (for the caller to unlink after the commit)."""
        row = await conn.fetch_one("SELECT path FROM call_files WHERE id = ?", (file_id,))
        if row is None:
            return None
        await conn.execute("DELETE FROM call_files WHERE id = ?", (file_id,))
        return str(row[0])

    async def add_transcript(
        self,
        conn: Connection,
        portal_id: int,
        call_id: str,
        messages: str,
        cost: Decimal | None,
        currency: str | None,
        now: float,
    ) -> int:
        row = await conn.fetch_one(
            "INSERT INTO call_transcripts (portal_id, call_id, messages, cost, cost_currency,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (portal_id, call_id, messages, money(cost, self.driver.dialect), currency, now),
        )
        assert row is not None
        transcript_id = int(row[0])
        await conn.execute(
            "UPDATE call_statistics SET transcript_id = ?, transcript_pending = 'N'"
            " WHERE portal_id = ? AND call_id = ?",
            (transcript_id, portal_id, call_id),
        )
        return transcript_id

    async def transcript(self, transcript_id: int) -> tuple[int, str, str] | None:
        """(portal id, call id, messages as JSON) of a transcript."""
        row = await self.driver.fetch_one(
            "SELECT portal_id, call_id, messages FROM call_transcripts WHERE id = ?",
            (transcript_id,),
        )
        return None if row is None else (int(row[0]), row[1], row[2])
