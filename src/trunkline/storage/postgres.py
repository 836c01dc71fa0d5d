"""The PostgreSQL driver (``driver.py`` has the protocol and the SQLite driver): an asyncpg
pool, ``?`` placeholders numbered for it, and its errors translated into ours. Imported only
when a PostgreSQL database is opened (``store.open_driver``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from trunkline.storage.changes import _READS, ChangeMarks
from trunkline.storage.driver import (
    DatabaseUnavailableError,
    IntegrityViolationError,
    Row,
    values_sql,
)
from trunkline.storage.sql import Dialect
from trunkline.storage.url import DatabaseUrl

_MARK = re.compile(r"\?")


def to_numbered(sql: str) -> str:
    """``?`` placeholders to asyncpg's ``$1, $2, ...`` (our SQL has no ``?`` literals)."""
    counter = iter(range(1, 10_000))
    return _MARK.sub(lambda _m: f"${next(counter)}", sql)


class _PgConnection:
    def __init__(self, conn: Any, cache: dict[str, str], marks: ChangeMarks) -> None:
        self._conn = conn
        self._cache = cache
        self._marks = marks

    def _sql(self, sql: str) -> str:
        if not sql.startswith(_READS):
            self._marks.wrote(sql)
        numbered = self._cache.get(sql)
        if numbered is None:
            numbered = self._cache[sql] = to_numbered(sql)
        return numbered

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        async with _translated():
            rows: list[Row] = await self._conn.fetch(self._sql(sql), *params)
            return rows

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        async with _translated():
            row: Row | None = await self._conn.fetchrow(self._sql(sql), *params)
            return row

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        async with _translated():
            status: str = await self._conn.execute(self._sql(sql), *params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def append(self, insert: str, row: Sequence[object]) -> None:
        await self.execute(values_sql(insert, len(row), 1), row)


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityViolationError(str(exc)) from exc
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailableError(str(exc)) from exc


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection handed back without asyncpg's reset query.

    asyncpg resets every connection it takes back into the pool with ``SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``: one more round trip for
    every pooled statement, the change counters' read included. Nothing here leaves such
    state on a pool connection (no session advisory lock, cursor, LISTEN or SET; the
    search path is a connection setting), so there is nothing to reset. An open
    transaction is still rolled back: asyncpg does that whatever the query says.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgresDriver:
    dialect: Dialect = "postgres"
    rollbacks = 0  # sequences never hand out an id twice, rolled back or not

    def __init__(self, pool: Any, marks: ChangeMarks | None = None) -> None:
        self._pool = pool
        self._cache: dict[str, str] = {}
        self.marks = marks or ChangeMarks()
        self._direct = _PgConnection(pool, self._cache, self.marks)

    @classmethod
    async def connect(
        cls, url: DatabaseUrl, *, min_size: int = 1, max_size: int = 10
    ) -> PostgresDriver:
        try:
            pool = await asyncpg.create_pool(
                url.asyncpg_dsn,
                min_size=min_size,
                max_size=max_size,
                server_settings=url.server_settings,
                connection_class=_PooledConnection,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailableError(f"cannot connect to {url.redacted()}: {exc}") from exc
        return cls(pool)

    def change_mark(self) -> None:
        """None: read the mark with ``shared_change_mark`` (storage/changes.py)."""
        return None

    def data_mark(self) -> None:
        return None

    async def shared_change_mark(self) -> object:
        """The change mark, read once per call from the server (storage/changes.py)."""
        try:
            return await self.marks.change_mark(self._pool)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailableError(str(exc)) from exc

    async def shared_data_mark(self, group: str) -> object:
        """The data mark of one group of tables (``GROUPS``: "lines", "calls")."""
        try:
            return await self.marks.data_mark(self._pool, group)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailableError(str(exc)) from exc

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return await self._direct.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        return await self._direct.fetch_one(sql, params)

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return await self._direct.execute(sql, params)

    async def append(self, insert: str, row: Sequence[object]) -> None:
        await self._direct.append(insert, row)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConnection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgConnection(conn, self._cache, self.marks)

    async def close(self) -> None:
        await self._pool.close()
