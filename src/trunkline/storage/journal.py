"""The request journal's rows (``requests``): written in batches, read by filters, trimmed
from the oldest.

Rows are read in id order; ids only grow (an AUTOINCREMENT table on SQLite, a sequence on
PostgreSQL), so ``after`` pages forward and ``trunkline requests --follow`` asks for what
came since the last id it saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from trunkline.storage.driver import Driver

COLUMNS = (
    "at, portal, principal, user_id, method, params, http_status, error_code, duration_ms, batch"
)


_WIDTH = 10  # values a row
_CHUNK = 512  # rows a statement at most (5,120 values: under SQLite's 32,766)


@lru_cache(maxsize=16)
def _insert_sql(rows: int) -> str:
    marks = "(" + ", ".join("?" for _ in range(_WIDTH)) + ")"
    return f"INSERT INTO requests ({COLUMNS}) VALUES " + ", ".join(marks for _ in range(rows))


@dataclass(frozen=True, slots=True)
class JournalRow:
    id: int
    at: float
    portal: str | None
    principal: str | None
    user_id: int | None
    method: str
    params: str  # JSON, secrets masked
    http_status: int
    error_code: str | None
    duration_ms: float
    batch: bool


@dataclass(frozen=True, slots=True)
class JournalFilter:
    portal: str | None = None
    method: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    principal: str | None = None
    batch: bool | None = None
    since: float | None = None  # the application clock's seconds
    after: int = 0  # rows with a greater id

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = ["id > ?"]
        params: list[object] = [self.after]
        for column, value in (
            ("portal", self.portal),
            ("method", self.method),
            ("http_status", self.http_status),
            ("error_code", self.error_code),
            ("principal", self.principal),
            ("batch", self.batch),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("at >= ?")
            params.append(self.since)
        return " WHERE " + " AND ".join(clauses), params


class JournalRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def write(self, rows: Sequence[tuple[object, ...]], keep: int) -> None:
        """Insert ``rows`` (in COLUMNS order) and drop all but the newest ``keep``."""
        await self.write_values([value for row in rows for value in row], keep)

    async def write_values(self, values: list[object], keep: int) -> None:
        """Insert the rows whose values, in COLUMNS order, follow one another in ``values``
        and drop all but the newest ``keep``.

        Plain statements, no transaction of their own: a multi-row INSERT per 512 rows or
        fewer (the row counts powers of two, so that each statement's text recurs and
        stays prepared), and one trimming DELETE. The caches' change marks ignore both
        (``storage/changes.py``), so a journal write never makes a cached portal, webhook
        or listing be read again."""
        if not values:
            return
        first, total = 0, len(values) // _WIDTH
        while first < total:
            count = min(_CHUNK, 1 << ((total - first).bit_length() - 1))
            await self.driver.execute(
                _insert_sql(count), values[first * _WIDTH : (first + count) * _WIDTH]
            )
            first += count
        newest = await self.driver.fetch_one("SELECT MAX(id) FROM requests")
        if newest is not None and newest[0] is not None and int(newest[0]) > keep:
            await self.driver.execute(
                "DELETE FROM requests WHERE id <= ?", (int(newest[0]) - keep,)
            )

    async def read(self, where: JournalFilter, limit: int) -> list[JournalRow]:
        sql, params = where.where()
        found = await self.driver.fetch_all(
            f"SELECT id, {COLUMNS} FROM requests{sql} ORDER BY id LIMIT ?", [*params, limit]
        )
        return [
            JournalRow(
                int(r[0]),
                float(r[1]),
                r[2],
                r[3],
                None if r[4] is None else int(r[4]),
                str(r[5]),
                str(r[6]),
                int(r[7]),
                r[8],
                float(r[9]),
                bool(r[10]),
            )
            for r in found
        ]

    async def count(self, where: JournalFilter) -> int:
        sql, params = where.where()
        row = await self.driver.fetch_one(f"SELECT COUNT(*) FROM requests{sql}", params)
        return int(row[0]) if row else 0

    async def clear(self) -> int:
        return await self.driver.execute("DELETE FROM requests")
