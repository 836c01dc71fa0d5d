"""The repository of the minimal CRM (``storage/crm_schema.py``).

Rules kept here: an entity and its phones are written in one transaction (the caller's,
when it hands its connection in, so a lead made for a call commits with the call);
phone lookups read (portal, digits). On SQLite, whether a portal has any phone at all is
kept under the driver's change mark (any write but a line's or a call's, by any process,
moves it), so a portal without CRM data answers a lookup without a read; PostgreSQL's
marks do not watch these tables, so there every lookup reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from trunkline.domain.calls import CrmType
from trunkline.domain.crm import CrmEntity, NewEntity, phone_digits
from trunkline.storage.driver import Connection, Driver, Row

_COLUMNS = "e.id, e.portal_id, e.entity_type, e.name, e.assigned_by, e.source"


def _entity(row: Row, phones: tuple[str, ...]) -> CrmEntity:
    return CrmEntity(
        id=int(row[0]),
        portal_id=int(row[1]),
        type=CrmType(row[2]),
        name=row[3],
        assigned_by=int(row[4]),
        source=row[5],
        phones=phones,
    )


class CrmRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._has_phones: dict[int, tuple[object, bool]] = {}

    async def _any_phone(self, portal_id: int, conn: Connection | None) -> bool:
        """Whether the portal has any CRM phone (always True when no mark can say)."""
        mark = self.driver.change_mark()
        if mark is None:
            return True
        hit = self._has_phones.get(portal_id)
        if hit is not None and hit[0] == mark:
            return hit[1]
        row = await (conn or self.driver).fetch_one(
            "SELECT 1 FROM crm_phones WHERE portal_id = ? LIMIT 1", (portal_id,)
        )
        if len(self._has_phones) >= 10_000:
            self._has_phones.clear()
        self._has_phones[portal_id] = (mark, row is not None)
        return row is not None

    def transaction(self) -> object:
        return self.driver.transaction()

    async def add(
        self, portal_id: int, new: NewEntity, now: float, conn: Connection | None = None
    ) -> int:
        if conn is None:
            async with self.driver.transaction() as own:
                return await self.add(portal_id, new, now, own)
        row = await conn.fetch_one(
            "INSERT INTO crm_entities (portal_id, entity_type, name, assigned_by, source,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (portal_id, new.type.value, new.name, new.assigned_by, new.source, now),
        )
        assert row is not None
        entity_id = int(row[0])
        for phone in new.phones:
            await conn.execute(
                "INSERT INTO crm_phones (entity_id, portal_id, phone, digits) VALUES (?, ?, ?, ?)",
                (entity_id, portal_id, phone, phone_digits(phone)),
            )
        return entity_id

    async def _phones(self, ids: Sequence[int], conn: Connection | None) -> dict[int, list[str]]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await (conn or self.driver).fetch_all(
            f"SELECT entity_id, phone FROM crm_phones WHERE entity_id IN ({marks}) ORDER BY id",
            list(ids),
        )
        found: dict[int, list[str]] = {}
        for entity_id, phone in rows:
            found.setdefault(int(entity_id), []).append(phone)
        return found

    async def by_phone(
        self, portal_id: int, digits: str, conn: Connection | None = None
    ) -> list[CrmEntity]:
        """The portal's entities with a phone of these digits, oldest first."""
        if not digits or not await self._any_phone(portal_id, conn):
            return []
        rows = await (conn or self.driver).fetch_all(
            f"SELECT DISTINCT {_COLUMNS} FROM crm_entities e"
            " JOIN crm_phones p ON p.entity_id = e.id"
            " WHERE p.portal_id = ? AND p.digits = ? ORDER BY e.id",
            (portal_id, digits),
        )
        phones = await self._phones([int(r[0]) for r in rows], conn)
        return [_entity(r, tuple(phones.get(int(r[0]), ()))) for r in rows]

    async def get(self, portal_id: int, entity_id: int) -> CrmEntity | None:
        row = await self.driver.fetch_one(
            f"SELECT {_COLUMNS} FROM crm_entities e WHERE e.portal_id = ? AND e.id = ?",
            (portal_id, entity_id),
        )
        if row is None:
            return None
        phones = await self._phones([entity_id], None)
        return _entity(row, tuple(phones.get(entity_id, ())))

    async def list(self, portal_id: int) -> list[CrmEntity]:
        rows = await self.driver.fetch_all(
            f"SELECT {_COLUMNS} FROM crm_entities e WHERE e.portal_id = ? ORDER BY e.id",
            (portal_id,),
        )
        phones = await self._phones([int(r[0]) for r in rows], None)
        return [_entity(r, tuple(phones.get(int(r[0]), ()))) for r in rows]
