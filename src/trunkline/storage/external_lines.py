"""The repository of external lines (``storage/external_schema.py``).

Rules kept here, where the rows are:

* A taken NUMBER is ``INSERT ... ON CONFLICT DO NOTHING``: the caller is told (None)
  and its PostgreSQL transaction stays usable.
* Every read and write is scoped to (portal, app key); app key 0 is "no application".
"""

from __future__ import annotations

from trunkline.domain.external import ExternalLine
from trunkline.storage.driver import Connection, Driver, Row

_COLUMNS = "id, portal_id, app_key, number, name, crm_auto_create"


def _key(rest_app_id: int | None) -> int:
    return 0 if rest_app_id is None else rest_app_id


def _line(row: Row) -> ExternalLine:
    app_key = int(row[2])
    return ExternalLine(
        id=int(row[0]),
        portal_id=int(row[1]),
        rest_app_id=app_key or None,
        number=row[3],
        name=row[4],
        crm_auto_create=row[5] == "Y",
    )


class ExternalLineRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def add(
        self,
        portal_id: int,
        rest_app_id: int | None,
        number: str,
        name: str,
        crm_auto_create: bool,
        now: float,
        conn: Connection | None = None,
    ) -> int | None:
        """The new line's id; None when the app already has a line with NUMBER."""
        row = await (conn or self.driver).fetch_one(
            "INSERT INTO external_lines (portal_id, app_key, number, name, crm_auto_create,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (portal_id, app_key, number) DO NOTHING RETURNING id",
            (portal_id, _key(rest_app_id), number, name, "Y" if crm_auto_create else "N", now),
        )
        return None if row is None else int(row[0])

    async def find(
        self,
        portal_id: int,
        rest_app_id: int | None,
        number: str,
        conn: Connection | None = None,
    ) -> ExternalLine | None:
        row = await (conn or self.driver).fetch_one(
            f"SELECT {_COLUMNS} FROM external_lines"
            " WHERE portal_id = ? AND app_key = ? AND number = ?",
            (portal_id, _key(rest_app_id), number),
        )
        return None if row is None else _line(row)

    async def by_number(self, portal_id: int, number: str) -> list[ExternalLine]:
        """Every application's line with NUMBER in the portal, oldest first."""
        rows = await self.driver.fetch_all(
            f"SELECT {_COLUMNS} FROM external_lines WHERE portal_id = ? AND number = ? ORDER BY id",
            (portal_id, number),
        )
        return [_line(row) for row in rows]

    async def get(self, portal_id: int, line_id: int) -> ExternalLine | None:
        row = await self.driver.fetch_one(
            f"SELECT {_COLUMNS} FROM external_lines WHERE portal_id = ? AND id = ?",
            (portal_id, line_id),
        )
        return None if row is None else _line(row)

    async def list(self, portal_id: int, rest_app_id: int | None) -> list[ExternalLine]:
        rows = await self.driver.fetch_all(
            f"SELECT {_COLUMNS} FROM external_lines WHERE portal_id = ? AND app_key = ?"
            " ORDER BY id",
            (portal_id, _key(rest_app_id)),
        )
        return [_line(row) for row in rows]

    async def update(self, line_id: int, *, name: str | None, crm_auto_create: bool | None) -> None:
        sets: list[str] = []
        params: list[object] = []
        if name is not None:
            sets.append("name = ?")
            params.append(name)
        if crm_auto_create is not None:
            sets.append("crm_auto_create = ?")
            params.append("Y" if crm_auto_create else "N")
        if sets:
            await self.driver.execute(
                f"UPDATE external_lines SET {', '.join(sets)} WHERE id = ?", [*params, line_id]
            )

    async def delete(self, line_id: int) -> bool:
        return await self.driver.execute("DELETE FROM external_lines WHERE id = ?", (line_id,)) > 0
