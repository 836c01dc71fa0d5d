"""The repository of SIP lines: listing reads with their caches, single reads, and writes
under the portal's lock.

Rules kept here, where the rows are:

* Line writes run inside :meth:`LineRepository.line_writer`, which locks the portal
  (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), so the
  portal-wide rules (unique TITLE, at most ten cloud lines, per-portal CONFIG_ID and
  REG_ID numbering) hold under concurrent requests and several worker processes.
* PASSWORD and INCOMING_PASSWORD are encrypted at rest (``storage/secrets.py``) and
  decrypted by :func:`line_from_row`, the one mapper of a line row.
* Every write bumps ``version``; listing reads fetch (row id, version) pairs first and
  decode only the rows whose version changed since this process last read them. Row ids
  of committed rows are never reused; after any rollback the row cache is emptied.
* Timestamps (``created_at``, ``registration_updated_at``) are the application clock's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from trunkline.domain.clock import Clock
from trunkline.domain.lines import LineChanges, LineType, NewLine, RegistrationState, SipLine
from trunkline.domain.query import LineQuery
from trunkline.storage import evaluate
from trunkline.storage.driver import (
    Connection,
    Driver,
    DuplicateError,
    IntegrityViolationError,
    Row,
)
from trunkline.storage.secrets import Cipher
from trunkline.storage.sql import (
    LINE_COLUMNS,
    SELECT_LINES,
    SELECT_LINES_WITH_ID,
    line_sql,
    listing_where,
    page_keys_sql,
    scope_sql,
    small_filter,
)

_LINE_TYPES = {t.value: t for t in LineType}
_STATES = {s.value: s for s in RegistrationState}


def line_from_row(row: Row, cipher: Cipher) -> SipLine:
    """A line from a ``SELECT_LINES`` row (columns in SipLine's field order), decrypted."""
    line = SipLine(*row)
    line.type = _LINE_TYPES[row[4]]
    if line.registration_result is not None:  # an unknown stored value shows as not tried
        line.registration_result = _STATES.get(line.registration_result)
    if line.password is not None:
        line.password = cipher.decrypt(line.password, "password")
    if line.incoming_password is not None:
        line.incoming_password = cipher.decrypt(line.incoming_password, "incoming_password")
    return line


class LineRepository:
    row_cache_size = 100_000
    listing_cache_size = 4_096

    def __init__(self, driver: Driver, cipher: Cipher, clock: Clock) -> None:
        self.driver = driver
        self.cipher = cipher
        self.clock = clock
        self._rows: dict[int, SipLine] = {}
        self._rollbacks_seen = 0
        self._listings: dict[tuple[object, ...], tuple[object, int, list[SipLine]]] = {}

    # -- reads ----------------------------------------------------------------

    def _line(self, row: Row) -> SipLine:
        return line_from_row(row, self.cipher)

    async def list_lines(
        self, query: LineQuery, *, on_count: Callable[[int], None] | None = None
    ) -> tuple[int, list[SipLine]]:
        """(total, page) with the WHERE clause built once. The page's (id, version)
        keys come first; a first page shorter than a page is the whole answer, so it
        needs no COUNT. ``on_count`` sees the total before any row is decoded (and
        may raise)."""
        if query.needs_plaintext:
            total, page = await self._evaluate(query)
            if on_count is not None:
                on_count(total)
            return total, page if total else []
        dialect = self.driver.dialect
        small = small_filter(query)
        where, params = listing_where(query, dialect, small=small)
        # The whole answer is kept while no data at all has changed: the mark is read
        # before the queries, so an answer is never kept past a change (storage/changes.py;
        # on PostgreSQL it is read from the server once per call).
        mark = self.driver.data_mark() if small else None
        if small and mark is None:
            mark = await self.driver.shared_data_mark("lines")
        key = None
        if mark is not None:
            key = (where, params, query.sort, query.descending, query.limit, query.offset)
            hit = self._listings.get(key)
            if hit is not None and hit[0] == mark:
                if on_count is not None:
                    on_count(hit[1])
                return hit[1], list(hit[2])
        total, page = await self._list_page(query, where, params, on_count)
        if key is not None:
            if len(self._listings) >= self.listing_cache_size:
                self._listings.clear()
            self._listings[key] = (mark, total, page)
        return total, list(page)

    async def _list_page(
        self,
        query: LineQuery,
        where: str,
        params: Sequence[object],
        on_count: Callable[[int], None] | None,
    ) -> tuple[int, list[SipLine]]:
        dialect = self.driver.dialect
        keys = await self.driver.fetch_all(
            page_keys_sql(where, query, dialect), [*params, query.limit, query.offset]
        )
        if query.offset == 0 and len(keys) < query.limit:
            total = len(keys)  # the whole answer is on this page: no COUNT needed
        else:
            row = await self.driver.fetch_one("SELECT COUNT(*) FROM lines" + where, params)
            assert row is not None
            total = int(row[0])
        if on_count is not None:
            on_count(total)
        if total == 0:
            return 0, []
        return total, await self._cached_lines(keys)

    async def _cached_lines(self, keys: Sequence[Row]) -> list[SipLine]:
        """Lines for (row id, version) pairs, decoded rows reused while their version
        holds; the misses are read in one query. Committed row ids are never reused and
        the version comes from the database; the ids of rolled-back inserts are, so the
        cache is emptied after any rollback. A stale entry is never served."""
        if self.driver.rollbacks != self._rollbacks_seen:
            # A rolled-back insert's row id (and version 1) may come back on another line.
            self._rollbacks_seen = self.driver.rollbacks
            self._rows.clear()
        cache = self._rows
        found: dict[int, SipLine] = {}
        missing: list[int] = []
        for row_id, version in keys:
            line = cache.get(row_id)
            if line is not None and line.version == version:
                found[row_id] = line
            else:
                missing.append(row_id)
        if missing:
            marks = ", ".join("?" for _ in missing)
            rows = await self.driver.fetch_all(
                f"{SELECT_LINES_WITH_ID} WHERE id IN ({marks})", missing
            )
            if len(cache) + len(rows) > self.row_cache_size:
                cache.clear()
            for row in rows:
                cache[row[0]] = found[row[0]] = self._line(row[1:])
        # A row deleted between the two reads is left out, as a later read would.
        return [found[row_id] for row_id, _ in keys if row_id in found]

    async def _evaluate(self, query: LineQuery) -> tuple[int, list[SipLine]]:
        sql, params = scope_sql(query, self.driver.dialect)
        scoped = [self._line(r) for r in await self.driver.fetch_all(sql, params)]
        return evaluate.apply(scoped, query)

    async def get_line(self, portal_id: int, app_id: str | None, config_id: int) -> SipLine | None:
        """The line with this CONFIG_ID if the caller's application owns it."""
        sql, params = line_sql(portal_id, app_id, config_id, self.driver.dialect)
        row = await self.driver.fetch_one(sql, params)
        return self._line(row) if row else None

    async def line_by_reg_id(self, portal_id: int, reg_id: int) -> SipLine | None:
        row = await self.driver.fetch_one(
            SELECT_LINES + " WHERE portal_id = ? AND type = 'cloud' AND reg_id = ?",
            (portal_id, reg_id),
        )
        return self._line(row) if row else None

    async def all_lines(self, portal_id: int | None = None) -> list[SipLine]:
        if portal_id is None:
            rows = await self.driver.fetch_all(SELECT_LINES + " ORDER BY portal_id, config_id")
        else:
            rows = await self.driver.fetch_all(
                SELECT_LINES + " WHERE portal_id = ? ORDER BY config_id", (portal_id,)
            )
        return [self._line(r) for r in rows]

    # -- writes ---------------------------------------------------------------

    @asynccontextmanager
    async def line_writer(self, portal_id: int) -> AsyncIterator[LineWriter]:
        async with self.driver.transaction() as conn:
            if self.driver.dialect == "postgres":
                await conn.execute("SELECT id FROM portals WHERE id = ? FOR UPDATE", (portal_id,))
            yield LineWriter(conn, self.cipher, portal_id, self.clock)


_INSERT_COLUMNS = ("portal_id", *LINE_COLUMNS, "created_at")
_INSERT_LINE = (
    f"INSERT INTO lines ({', '.join(_INSERT_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})"
)


class LineWriter:
    """Line writes inside one transaction that holds the portal's lock."""

    def __init__(self, conn: Connection, cipher: Cipher, portal_id: int, clock: Clock) -> None:
        self._conn = conn
        self._cipher = cipher
        self.portal_id = portal_id
        self._clock = clock

    async def count_cloud_lines(self) -> int:
        row = await self._conn.fetch_one(
            "SELECT COUNT(*) FROM lines WHERE portal_id = ? AND type = 'cloud'", (self.portal_id,)
        )
        assert row is not None
        return int(row[0])

    async def title_taken(self, title: str, *, except_config_id: int | None = None) -> bool:
        """Exact TITLE match among the portal's lines (an empty title matches NULL or '')."""
        if title == "":
            sql = "SELECT 1 FROM lines WHERE portal_id = ? AND (title IS NULL OR title = '')"
            params: list[Any] = [self.portal_id]
        else:
            # "title <> ''" lets both databases use the partial unique index.
            sql = "SELECT 1 FROM lines WHERE portal_id = ? AND title = ? AND title <> ''"
            params = [self.portal_id, title]
        if except_config_id is not None:
            sql += " AND config_id <> ?"
            params.append(except_config_id)
        return await self._conn.fetch_one(sql + " LIMIT 1", params) is not None

    async def _next(self, counter: str) -> int:
        row = await self._conn.fetch_one(
            f"UPDATE portals SET {counter} = {counter} + 1 WHERE id = ? RETURNING {counter}",
            (self.portal_id,),
        )
        assert row is not None, "portal vanished"
        return int(row[0])

    async def insert(
        self,
        new: NewLine,
        *,
        incoming_server: str | None,
        incoming_password: str | None = None,
    ) -> SipLine:
        config_id = await self._next("last_config_id")
        line = SipLine(
            portal_id=self.portal_id,
            line_id=config_id,
            config_id=config_id,
            app_id=new.app_id,
            type=new.type,
            title=new.title,
            server=new.server,
            login=new.login,
            password=new.password,
        )
        if new.type is LineType.CLOUD:
            line.reg_id = await self._next("last_reg_id")
            line.registration_result = RegistrationState.WAIT
            line.registration_updated_at = self._clock.now()
        else:
            line.incoming_server = incoming_server
            line.incoming_login = f"sip{config_id}"
            line.incoming_password = incoming_password or secrets.token_hex(16)
            line.registration_status_code = 0
        values = {name: getattr(line, name) for name in LINE_COLUMNS}
        values["type"] = line.type.value
        if line.registration_result is not None:
            values["registration_result"] = line.registration_result.value
        values["password"] = self._cipher.encrypt(line.password, "password")
        values["incoming_password"] = self._cipher.encrypt(
            line.incoming_password, "incoming_password"
        )
        params = [self.portal_id, *values.values(), self._clock.now()]
        try:
            await self._conn.execute(_INSERT_LINE, params)
        except IntegrityViolationError as exc:
            raise DuplicateError("TITLE") from exc
        return line

    async def update(self, config_id: int, changes: LineChanges) -> None:
        sets: list[str] = []
        params: list[Any] = []
        if changes.title is not None:
            sets.append("title = ?")
            params.append(changes.title)
        if changes.server is not None:
            sets.append("server = ?")
            params.append(changes.server)
        if changes.login is not None:
            sets.append("login = ?")
            params.append(changes.login)
        if changes.password is not None:
            sets.append("password = ?")
            params.append(self._cipher.encrypt(changes.password, "password"))
        if changes.credentials_changed:
            # The engine sees the new marker and re-registers (sip-registration.md §5.2 WAIT).
            sets.append(
                "registration_status_code = 0, registration_error_message = NULL,"
                " registration_updated_at = ?,"
                " registration_result = CASE WHEN type = 'cloud' THEN ? ELSE NULL END"
            )
            params += [self._clock.now(), RegistrationState.WAIT.value]
        if not sets:
            return
        sets.append("version = version + 1")
        try:
            await self._conn.execute(
                f"UPDATE lines SET {', '.join(sets)} WHERE portal_id = ? AND config_id = ?",
                [*params, self.portal_id, config_id],
            )
        except IntegrityViolationError as exc:
            raise DuplicateError("TITLE") from exc

    async def delete(self, config_id: int) -> bool:
        deleted = await self._conn.execute(
            "DELETE FROM lines WHERE portal_id = ? AND config_id = ?", (self.portal_id, config_id)
        )
        return deleted > 0
