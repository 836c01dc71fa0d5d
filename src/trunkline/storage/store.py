"""The repository: every read and write of portals, users, webhooks and lines.

One implementation for both backends: the SQL is shared, the drivers differ
(``storage/driver.py``). Line writes run inside :meth:`Store.line_writer`, which
locks the portal so that the portal-wide rules (unique TITLE, at most ten cloud
lines, per-portal CONFIG_ID numbering) hold under concurrent requests and
several worker processes.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from trunkline.domain.lines import LineChanges, LineType, NewLine, SipLine
from trunkline.domain.portals import Portal, User, Webhook
from trunkline.domain.query import LineQuery
from trunkline.storage import evaluate
from trunkline.storage.driver import Connection, Driver, IntegrityViolation, Row, open_driver
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
from trunkline.storage.url import DatabaseUrl

_PORTAL_COLUMNS = "id, domain, member_id, title, timezone, language, license"
_USER_COLUMNS = "portal_id, user_id, login, name, last_name, is_admin, line_modify, active"
_WEBHOOK_COLUMNS = "id, portal_id, user_id, title, scopes, active, expires_at"


_LINE_TYPES = {t.value: t for t in LineType}
_WEBHOOK_WIDTH = len(_WEBHOOK_COLUMNS.split(", "))
_USER_WIDTH = len(_USER_COLUMNS.split(", "))
_WEBHOOK_OWNER_SQL = (
    "SELECT "
    + ", ".join(
        [f"w.{c}" for c in _WEBHOOK_COLUMNS.split(", ")]
        + [f"u.{c}" for c in _USER_COLUMNS.split(", ")]
        + [f"p.{c}" for c in _PORTAL_COLUMNS.split(", ")]
    )
    + " FROM webhooks w"
    " JOIN users u ON u.portal_id = w.portal_id AND u.user_id = w.user_id"
    " JOIN portals p ON p.id = w.portal_id WHERE w.code_hash = ?"
)


class DuplicateError(Exception):
    """A portal domain, member id, user login or webhook code is already taken."""


def _portal(row: Row) -> Portal:
    return Portal(*row)


def _user(row: Row) -> User:
    return User(
        portal_id=row[0],
        user_id=row[1],
        login=row[2],
        name=row[3],
        last_name=row[4],
        is_admin=bool(row[5]),
        line_modify=bool(row[6]),
        active=bool(row[7]),
    )


def _webhook(row: Row) -> Webhook:
    scopes = tuple(s for s in row[4].split(",") if s)
    return Webhook(row[0], row[1], row[2], row[3], scopes, bool(row[5]), row[6])


class Store:
    row_cache_size = 100_000
    owner_cache_size = 10_000
    listing_cache_size = 4_096

    def __init__(self, driver: Driver, cipher: Cipher) -> None:
        self.driver = driver
        self.cipher = cipher
        self._rows: dict[int, SipLine] = {}
        self._rollbacks_seen = 0
        self._owners: dict[str, tuple[object, tuple[Webhook, User, Portal] | None]] = {}
        self._listings: dict[tuple[object, ...], tuple[object, int, list[SipLine]]] = {}

    @classmethod
    async def open(cls, url: DatabaseUrl, cipher: Cipher) -> Store:
        return cls(await open_driver(url), cipher)

    async def close(self) -> None:
        await self.driver.close()

    @property
    def dialect(self) -> str:
        return self.driver.dialect

    async def ping(self) -> None:
        await self.driver.fetch_one("SELECT 1")

    # -- portals ---------------------------------------------------------------

    async def create_portal(
        self, domain: str, *, title: str = "", timezone: str = "UTC", member_id: str | None = None
    ) -> Portal:
        member_id = member_id or secrets.token_hex(16)
        try:
            await self.driver.execute(
                "INSERT INTO portals (domain, member_id, title, timezone, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (domain.lower(), member_id, title, timezone, time.time()),
            )
        except IntegrityViolation as exc:
            raise DuplicateError(f"a portal with domain {domain!r} already exists") from exc
        portal = await self.portal_by_domain(domain)
        assert portal is not None
        return portal

    async def portal_by_domain(self, domain: str) -> Portal | None:
        row = await self.driver.fetch_one(
            f"SELECT {_PORTAL_COLUMNS} FROM portals WHERE domain = ?", (domain.lower(),)
        )
        return _portal(row) if row else None

    async def get_portal(self, portal_id: int) -> Portal | None:
        row = await self.driver.fetch_one(
            f"SELECT {_PORTAL_COLUMNS} FROM portals WHERE id = ?", (portal_id,)
        )
        return _portal(row) if row else None

    async def list_portals(self) -> list[Portal]:
        rows = await self.driver.fetch_all(f"SELECT {_PORTAL_COLUMNS} FROM portals ORDER BY id")
        return [_portal(r) for r in rows]

    # -- users -----------------------------------------------------------------

    async def create_user(
        self,
        portal_id: int,
        login: str,
        *,
        name: str = "",
        last_name: str = "",
        is_admin: bool = False,
        line_modify: bool = False,
        user_id: int | None = None,
    ) -> User:
        async with self.driver.transaction() as conn:
            if user_id is None:
                row = await conn.fetch_one(
                    "SELECT COALESCE(MAX(user_id), 0) + 1 FROM users WHERE portal_id = ?",
                    (portal_id,),
                )
                assert row is not None
                user_id = int(row[0])
            try:
                await conn.execute(
                    "INSERT INTO users (portal_id, user_id, login, name, last_name, is_admin,"
                    " line_modify, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        portal_id,
                        user_id,
                        login,
                        name,
                        last_name,
                        is_admin,
                        line_modify,
                        True,
                        time.time(),
                    ),
                )
            except IntegrityViolation as exc:
                raise DuplicateError(
                    f"user {user_id} or login {login!r} already exists in this portal"
                ) from exc
        user = await self.get_user(portal_id, user_id)
        assert user is not None
        return user

    async def get_user(self, portal_id: int, user_id: int) -> User | None:
        row = await self.driver.fetch_one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE portal_id = ? AND user_id = ?",
            (portal_id, user_id),
        )
        return _user(row) if row else None

    async def list_users(self, portal_id: int) -> list[User]:
        rows = await self.driver.fetch_all(
            f"SELECT {_USER_COLUMNS} FROM users WHERE portal_id = ? ORDER BY user_id", (portal_id,)
        )
        return [_user(r) for r in rows]

    # -- webhooks --------------------------------------------------------------

    async def create_webhook(
        self,
        portal_id: int,
        user_id: int,
        code_hash: str,
        scopes: Sequence[str],
        *,
        title: str = "",
        expires_at: float | None = None,
    ) -> Webhook:
        try:
            await self.driver.execute(
                "INSERT INTO webhooks (portal_id, user_id, code_hash, title, scopes, active,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    portal_id,
                    user_id,
                    code_hash,
                    title,
                    ",".join(scopes),
                    True,
                    expires_at,
                    time.time(),
                ),
            )
        except IntegrityViolation as exc:
            raise DuplicateError(
                "that webhook code is already in use, or the user is unknown"
            ) from exc
        webhook = await self.webhook_by_hash(code_hash)
        assert webhook is not None
        return webhook

    async def webhook_by_hash(self, code_hash: str) -> Webhook | None:
        row = await self.driver.fetch_one(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE code_hash = ?", (code_hash,)
        )
        return _webhook(row) if row else None

    async def webhook_with_owner(self, code_hash: str) -> tuple[Webhook, User, Portal] | None:
        """The webhook, its user and its portal in one query (the hot path of every call).

        On SQLite the answer is kept until the driver's change mark moves (any commit by
        another process, any write of this one but to lines): a repeated caller costs a
        PRAGMA instead of a three-table join. Expiry is checked by the caller each time.
        """
        mark = self.driver.change_mark()
        if mark is not None:
            hit = self._owners.get(code_hash)
            if hit is not None and hit[0] == mark:
                return hit[1]
        row = await self.driver.fetch_one(_WEBHOOK_OWNER_SQL, (code_hash,))
        found = None
        if row is not None:
            w, u = _WEBHOOK_WIDTH, _WEBHOOK_WIDTH + _USER_WIDTH
            found = _webhook(row[:w]), _user(row[w:u]), _portal(row[u:])
        if mark is not None:
            if len(self._owners) >= self.owner_cache_size:
                self._owners.clear()
            self._owners[code_hash] = (mark, found)
        return found

    async def list_webhooks(self, portal_id: int) -> list[Webhook]:
        rows = await self.driver.fetch_all(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE portal_id = ? ORDER BY id",
            (portal_id,),
        )
        return [_webhook(r) for r in rows]

    async def set_webhook_active(self, webhook_id: int, active: bool) -> bool:
        changed = await self.driver.execute(
            "UPDATE webhooks SET active = ? WHERE id = ?", (active, webhook_id)
        )
        return changed > 0

    async def delete_webhook(self, webhook_id: int) -> bool:
        return await self.driver.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)) > 0

    # -- lines: reads ----------------------------------------------------------

    def _line(self, row: Row) -> SipLine:
        # Columns come in SipLine's field order (storage/sql.py LINE_COLUMNS).
        line = SipLine(*row)
        line.type = _LINE_TYPES[row[4]]
        if line.password is not None:
            line.password = self.cipher.decrypt(line.password, "password")
        if line.incoming_password is not None:
            line.incoming_password = self.cipher.decrypt(
                line.incoming_password, "incoming_password"
            )
        return line

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
        # The whole answer is kept while no data at all has changed (SQLite only): the
        # mark is read before the queries, so an answer is never kept past a change.
        mark = self.driver.data_mark() if small else None
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

    def line_from_row(self, row: Row) -> SipLine:
        """A line from a ``SELECT_LINES`` row (decrypted)."""
        return self._line(row)

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

    # -- lines: writes ---------------------------------------------------------

    @asynccontextmanager
    async def line_writer(self, portal_id: int) -> AsyncIterator[LineWriter]:
        async with self.driver.transaction() as conn:
            if self.driver.dialect == "postgres":
                await conn.execute("SELECT id FROM portals WHERE id = ? FOR UPDATE", (portal_id,))
            yield LineWriter(conn, self.cipher, portal_id)

    async def set_registration(
        self, portal_id: int, config_id: int, status_code: int | None, message: str | None
    ) -> None:
        await self.driver.execute(
            "UPDATE lines SET registration_status_code = ?, registration_error_message = ?,"
            " registration_updated_at = ?, version = version + 1"
            " WHERE portal_id = ? AND config_id = ?",
            (status_code, message, time.time(), portal_id, config_id),
        )


_INSERT_COLUMNS = ("portal_id", *LINE_COLUMNS, "created_at")
_INSERT_LINE = (
    f"INSERT INTO lines ({', '.join(_INSERT_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})"
)


class LineWriter:
    """Line writes inside one transaction that holds the portal's lock."""

    def __init__(self, conn: Connection, cipher: Cipher, portal_id: int) -> None:
        self._conn = conn
        self._cipher = cipher
        self.portal_id = portal_id

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

    async def insert(self, new: NewLine, *, incoming_server: str | None) -> SipLine:
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
            line.registration_result = "wait"
            line.registration_updated_at = time.time()
        else:
            line.incoming_server = incoming_server
            line.incoming_login = f"sip{config_id}"
            line.incoming_password = secrets.token_hex(16)
            line.registration_status_code = 0
        values = {name: getattr(line, name) for name in LINE_COLUMNS}
        values["type"] = line.type.value
        values["password"] = self._cipher.encrypt(line.password, "password")
        values["incoming_password"] = self._cipher.encrypt(
            line.incoming_password, "incoming_password"
        )
        params = [self.portal_id, *values.values(), time.time()]
        try:
            await self._conn.execute(_INSERT_LINE, params)
        except IntegrityViolation as exc:
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
                " registration_result = CASE WHEN type = 'cloud' THEN 'wait' ELSE NULL END"
            )
            params.append(time.time())
        if not sets:
            return
        sets.append("version = version + 1")
        try:
            await self._conn.execute(
                f"UPDATE lines SET {', '.join(sets)} WHERE portal_id = ? AND config_id = ?",
                [*params, self.portal_id, config_id],
            )
        except IntegrityViolation as exc:
            raise DuplicateError("TITLE") from exc

    async def delete(self, config_id: int) -> bool:
        deleted = await self._conn.execute(
            "DELETE FROM lines WHERE portal_id = ? AND config_id = ?", (self.portal_id, config_id)
        )
        return deleted > 0
