"""The offline event queue (``event_offline``): what ``event.offline.*`` read and clear.

Rules kept here, where the rows are:

* A queue belongs to an install and a source (``auth_connector``, "" for none). It keeps
  the latest state of each object, not every change: queueing a record whose
  ``MESSAGE_ID`` (the event and its data) is already waiting, unreserved and not marked
  erroneous, only moves that record's time and data.
* Taking records (``event.offline.get``) tags them with a process id in one ``UPDATE``
  (PostgreSQL also skips rows another taker has locked), so parallel takers never get
  the same record; with ``clear`` they are deleted in the same transaction. Reserved
  records (tagged, not cleared) are hidden from other takers, and shown again to the
  taker that names their process id.
* Marking records erroneous (``event.offline.error``) releases their reservation: they
  are listed again, and taken again only by a taker that asks for erroneous records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from trunkline.domain.events import Condition, OfflineRecord, Order
from trunkline.storage.driver import Connection, Driver

COLUMNS = (
    "id",
    "event",
    "data",
    "additional",
    "message_id",
    "process_id",
    "error",
    "created_at",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM event_offline"


def _record(row: Sequence[Any]) -> OfflineRecord:
    return OfflineRecord(
        id=int(row[0]),
        event=row[1],
        data=json.loads(row[2]) if row[2] else None,
        additional=row[3],
        message_id=row[4],
        process_id=row[5],
        error=bool(row[6]),
        created_at=float(row[7]),
    )


def _where(
    install_id: int, connector: str, conditions: Sequence[Condition]
) -> tuple[list[str], list[object]]:
    where = ["install_id = ?", "auth_connector = ?"]
    params: list[object] = [install_id, connector]
    for condition in conditions:
        if condition.value is None:
            where.append(f"{condition.column} IS {'NOT ' if condition.op == '<>' else ''}NULL")
            continue
        where.append(f"{condition.column} {condition.op} ?")
        params.append(condition.value)
    return where, params


def _order_by(order: Order, default: str) -> str:
    terms = [f"{column} {'DESC' if descending else 'ASC'}" for column, descending in order]
    return ", ".join([*terms, default])


async def queue(
    conn: Connection,
    portal_id: int,
    install_id: int,
    binding_id: int,
    event: str,
    data: str,
    *,
    message_id: str,
    connector: str,
    now: float,
) -> None:
    """Queue a record, or refresh the same one still waiting (in the caller's transaction)."""
    moved = await conn.execute(
        "UPDATE event_offline SET data = ?, created_at = ? WHERE install_id = ?"
        " AND auth_connector = ? AND message_id = ? AND process_id IS NULL AND error = ?",
        (data, now, install_id, connector, message_id, False),
    )
    if moved:
        return
    await conn.execute(
        "INSERT INTO event_offline (portal_id, install_id, binding_id, event, data, additional,"
        " message_id, auth_connector, error, created_at) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?)",
        (portal_id, install_id, binding_id, event, data, message_id, connector, False, now),
    )


class OfflineQueue:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def take(
        self,
        install_id: int,
        *,
        connector: str,
        conditions: Sequence[Condition],
        order: Order,
        limit: int,
        process_id: str | None,
        errors: bool,
        clear: bool,
        token: str,
    ) -> list[OfflineRecord]:
        """Take up to ``limit`` records, tagged ``token`` (deleted with ``clear``)."""
        where, params = _where(install_id, connector, conditions)
        if process_id is None:
            where.append("process_id IS NULL")
        else:
            where.append("(process_id IS NULL OR process_id = ?)")
            params.append(process_id)
        if not errors:
            where.append("error = ?")
            params.append(False)
        lock = " FOR UPDATE SKIP LOCKED" if self.driver.dialect == "postgres" else ""
        sort = _order_by(order, "id ASC")
        async with self.driver.transaction() as conn:
            await conn.execute(  # a CTE: evaluated once (see storage/events.py claim)
                f"WITH picked AS (SELECT id FROM event_offline WHERE {' AND '.join(where)}"
                f" ORDER BY {sort} LIMIT ?{lock}) UPDATE event_offline SET process_id = ?"
                " WHERE id IN (SELECT id FROM picked)",
                [*params, limit, token],
            )
            found = await conn.fetch_all(
                f"{_SELECT} WHERE install_id = ? AND process_id = ? ORDER BY {sort}",
                (install_id, token),
            )
            if clear:
                await conn.execute(
                    "DELETE FROM event_offline WHERE install_id = ? AND process_id = ?",
                    (install_id, token),
                )
        return [_record(row) for row in found]

    async def records(
        self,
        install_id: int,
        *,
        connector: str,
        conditions: Sequence[Condition],
        order: Order,
        start: int,
        limit: int,
    ) -> tuple[int, list[OfflineRecord]]:
        """(total, one page) of an install's queue, without changing it."""
        where, params = _where(install_id, connector, conditions)
        sql = " WHERE " + " AND ".join(where)
        row = await self.driver.fetch_one(f"SELECT COUNT(*) FROM event_offline{sql}", params)
        found = await self.driver.fetch_all(
            f"{_SELECT}{sql} ORDER BY {_order_by(order, 'id ASC')} LIMIT ? OFFSET ?",
            [*params, limit, start],
        )
        return (int(row[0]) if row else 0), [_record(r) for r in found]

    async def clear(
        self,
        install_id: int,
        process_id: str,
        *,
        ids: Sequence[int] = (),
        message_ids: Sequence[str] = (),
    ) -> int:
        """Delete reserved records of ``process_id`` (only ``ids``, else only
        ``message_ids``, when given); how many."""
        sql = "DELETE FROM event_offline WHERE install_id = ? AND process_id = ?"
        params: list[object] = [install_id, process_id]
        if ids:
            sql += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += list(ids)
        elif message_ids:
            sql += f" AND message_id IN ({', '.join('?' for _ in message_ids)})"
            params += list(message_ids)
        return await self.driver.execute(sql, params)

    async def mark_errors(
        self, install_id: int, process_id: str, message_ids: Sequence[str]
    ) -> int:
        """Mark reserved records erroneous and release them; how many."""
        if not message_ids:
            return 0
        marks = ", ".join("?" for _ in message_ids)
        return await self.driver.execute(
            f"UPDATE event_offline SET error = ?, process_id = NULL WHERE install_id = ?"
            f" AND process_id = ? AND message_id IN ({marks})",
            [True, install_id, process_id, *message_ids],
        )
