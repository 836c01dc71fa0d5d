"""Portal snapshots: every row of one portal, saved by name and put back.

Which rows belong to a portal is read from the schema, so a table added later is
captured without a change here:

* ``portals`` (the portal's own row) and every table with a ``portal_id`` column;
* every table that reaches one of those through a foreign key (OAuth codes and tokens
  through their install), recursively;
* the shared rows those reference that belong to no portal (the applications installed):
  saved too, and put back only when they are gone.

Rules:

* A restore runs in one transaction: the portal's rows are deleted, children first,
  then the saved rows are inserted, parents first, with their saved ids; the portal
  keeps its id, so every id a client saw (CONFIG_ID, REG_ID, webhook and user ids) holds.
* A row keeps its id unless another row has taken it since (SQLite gives the highest id
  again once its row is deleted, except in AUTOINCREMENT tables); then it gets a new one
  and the rows that reference it (``portal_id``, foreign keys) follow. Lines always get new
  row ids (never their public ``ID``): readers cache decoded lines by row id and version,
  and a committed row id is never reused, so no worker can serve a line as it was before.
  The ids a client sees (CONFIG_ID, REG_ID, user ids, statistics ``ID``) are per portal or
  never reused, so they hold.
* Values are saved as JSON; decimals are tagged (``{"$decimal": "1.5"}``) and come back
  as ``Decimal``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from trunkline.domain.clock import Clock
from trunkline.storage.driver import Connection, Driver, Row

if TYPE_CHECKING:
    import sqlalchemy as sa

# The schema (SQLAlchemy) is imported on first use: a server that never takes a snapshot
# does not pay for the import at start.

# Never a portal's state: test control's own rows, and events already raised (a restore
# neither posts old events again nor rewrites the delivery journal).
_OWN = ("snapshots", "requests", "operator_values", "processes", "event_outbox", "event_journal")
_FRESH_IDS = {"lines"}  # tables whose row ids readers cache by: restored with new ids


@cache
def _plan() -> tuple[list[tuple[sa.Table, str]], list[tuple[sa.Table, str]]]:
    """(owned tables with the WHERE that selects a portal's rows, parents first;
    shared parent tables with the WHERE selecting the rows the owned ones reference)."""
    from trunkline.storage.schema import metadata

    owned: dict[str, str] = {}
    for table in metadata.sorted_tables:
        if table.name in _OWN:
            continue
        if table.name == "portals":
            owned[table.name] = "id = ?"
        elif "portal_id" in table.c:
            owned[table.name] = "portal_id = ?"
        else:
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                if parent in owned:
                    owned[table.name] = (
                        f"{fk.parent.name} IN (SELECT {fk.column.name} FROM {parent}"
                        f" WHERE {owned[parent]})"
                    )
                    break
    shared: dict[str, str] = {}
    for table in metadata.sorted_tables:
        if table.name not in owned:
            continue
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent not in owned and parent not in shared:
                shared[parent] = (
                    f"{fk.column.name} IN (SELECT {fk.parent.name} FROM {table.name}"
                    f" WHERE {owned[table.name]})"
                )
    tables = {t.name: t for t in metadata.sorted_tables}
    return [(tables[n], w) for n, w in owned.items()], [(tables[n], w) for n, w in shared.items()]


def _encode(value: Any) -> Any:
    return {"$decimal": str(value)} if isinstance(value, Decimal) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$decimal" in value:
        return Decimal(value["$decimal"])
    return value


async def _select(conn: Connection, table: sa.Table, where: str, portal_id: int) -> dict[str, Any]:
    columns = [c.name for c in table.columns]
    params = [portal_id] * where.count("?")
    rows = await conn.fetch_all(
        f"SELECT {', '.join(columns)} FROM {table.name} WHERE {where}", params
    )
    return {"columns": columns, "rows": [[_encode(v) for v in row] for row in rows]}


class SnapshotRepository:
    def __init__(self, driver: Driver, clock: Clock) -> None:
        self.driver = driver
        self.clock = clock

    async def capture(self, portal_id: int) -> str:
        """Every row of the portal, as the JSON text a snapshot keeps."""
        data: dict[str, Any] = {"owned": {}, "shared": {}}
        async with self.driver.transaction() as conn:
            for table, where in _plan()[0]:
                data["owned"][table.name] = await _select(conn, table, where, portal_id)
            for table, where in _plan()[1]:
                data["shared"][table.name] = await _select(conn, table, where, portal_id)
        return json.dumps(data, separators=(",", ":"))

    async def save(self, domain: str, name: str, data: str) -> None:
        """Keep ``data`` as ``name`` of ``domain`` (replacing one of the same name)."""
        async with self.driver.transaction() as conn:
            await conn.execute(
                "DELETE FROM snapshots WHERE domain = ? AND name = ?", (domain, name)
            )
            await conn.execute(
                "INSERT INTO snapshots (domain, name, created_at, data) VALUES (?, ?, ?, ?)",
                (domain, name, self.clock.now(), data),
            )

    async def load(self, domain: str, name: str) -> str | None:
        row = await self.driver.fetch_one(
            "SELECT data FROM snapshots WHERE domain = ? AND name = ?", (domain, name)
        )
        return None if row is None else str(row[0])

    async def names(self, domain: str) -> list[tuple[str, float]]:
        found = await self.driver.fetch_all(
            "SELECT name, created_at FROM snapshots WHERE domain = ? ORDER BY created_at, id",
            (domain,),
        )
        return [(str(r[0]), float(r[1])) for r in found]

    async def forget(self, domain: str, name: str | None = None) -> int:
        if name is None:
            return await self.driver.execute("DELETE FROM snapshots WHERE domain = ?", (domain,))
        return await self.driver.execute(
            "DELETE FROM snapshots WHERE domain = ? AND name = ?", (domain, name)
        )

    async def restore(self, data: str) -> tuple[int, list[int]]:
        """Put a snapshot back: (the portal's id, the CONFIG_IDs of its lines before and
        after, for the SIP engine to look at again)."""
        saved = json.loads(data)
        portals = saved["owned"]["portals"]
        row = dict(zip(portals["columns"], portals["rows"][0], strict=True))
        portal_id, domain = int(row["id"]), str(row["domain"])
        async with self.driver.transaction() as conn:
            current = await conn.fetch_one("SELECT id FROM portals WHERE domain = ?", (domain,))
            before: list[Row] = []
            if current is not None:
                before = await conn.fetch_all(
                    "SELECT config_id FROM lines WHERE portal_id = ?", (int(current[0]),)
                )
                await self._delete(conn, int(current[0]))
            ids: dict[str, dict[Any, Any]] = {}
            for table, _ in _plan()[1]:
                await self._insert(conn, table, saved["shared"].get(table.name), ids, shared=True)
            for table, _ in _plan()[0]:
                await self._insert(conn, table, saved["owned"].get(table.name), ids, shared=False)
            portal_id = ids["portals"].get(portal_id, portal_id)
            after = await conn.fetch_all(
                "SELECT config_id FROM lines WHERE portal_id = ?", (portal_id,)
            )
        return portal_id, sorted({int(r[0]) for r in [*before, *after]})

    async def clear(self) -> dict[str, int]:
        """Every portal's rows, the applications, faults, snapshots, the journal and the
        operator's values, in one transaction (rows deleted per table); what belongs to
        the running processes (their records, engine leases) stays."""
        from trunkline.storage.schema import metadata

        owned, shared = _plan()
        names = {t.name for t, _ in owned} | {t.name for t, _ in shared} | set(_OWN[:3])
        deleted: dict[str, int] = {}
        async with self.driver.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name in names:
                    deleted[table.name] = await conn.execute(f"DELETE FROM {table.name}")
        return deleted

    async def delete_portal(self, portal_id: int) -> int:
        """Every row of the portal, children first, and the applications installed on it
        and on no other portal, in one transaction; how many applications went."""
        async with self.driver.transaction() as conn:
            apps: int = await conn.execute(
                "DELETE FROM apps WHERE id IN (SELECT app_id FROM app_installs"
                " WHERE portal_id = ?) AND id NOT IN (SELECT app_id FROM app_installs"
                " WHERE portal_id <> ?)",
                (portal_id, portal_id),
            )
            await self._delete(conn, portal_id)
        return apps

    @staticmethod
    async def _delete(conn: Connection, portal_id: int) -> None:
        for table, where in reversed(_plan()[0]):
            await conn.execute(
                f"DELETE FROM {table.name} WHERE {where}", [portal_id] * where.count("?")
            )

    @staticmethod
    async def _insert(
        conn: Connection,
        table: sa.Table,
        saved: dict[str, Any] | None,
        ids: dict[str, dict[Any, Any]],
        *,
        shared: bool,
    ) -> None:
        """Insert saved rows. A row keeps its id unless that id is taken now (a table whose
        ids may be reused) or readers cache by it (lines); a new id is noted in ``ids`` and
        the columns that reference it (``portal_id``, foreign keys) follow."""
        moved = ids.setdefault(table.name, {})
        if not saved or not saved["rows"]:
            return
        columns: list[str] = [c for c in saved["columns"] if c in table.c]
        position = {c: saved["columns"].index(c) for c in columns}
        follows: dict[str, str] = {}  # column -> the table whose new ids it takes
        for column in columns:
            if column == "portal_id" and table.name != "portals":
                follows[column] = "portals"
        for fk in table.foreign_keys:
            if fk.column.name == "id" and fk.parent.name in columns:
                follows.setdefault(fk.parent.name, fk.column.table.name)
        has_id = "id" in columns and list(table.primary_key.columns.keys()) == ["id"]
        for saved_row in saved["rows"]:
            values = {c: _decode(saved_row[position[c]]) for c in columns}
            for column, parent in follows.items():
                values[column] = ids.get(parent, {}).get(values[column], values[column])
            fresh = False
            if has_id:
                taken = await conn.fetch_one(
                    f"SELECT 1 FROM {table.name} WHERE id = ?", (values["id"],)
                )
                if taken is not None and shared:
                    continue  # the application is still there
                fresh = taken is not None or table.name in _FRESH_IDS
            names = [c for c in columns if not (fresh and c == "id")]
            sql = (
                f"INSERT INTO {table.name} ({', '.join(names)})"
                f" VALUES ({', '.join('?' for _ in names)})"
            )
            if fresh:
                made = await conn.fetch_one(sql + " RETURNING id", [values[c] for c in names])
                assert made is not None
                moved[values["id"]] = made[0]
            else:
                await conn.execute(sql, [values[c] for c in names])
