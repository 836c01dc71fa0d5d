"""The repository of outbound events: bindings, the outbox, the journal (``event_schema.py``).

Rules kept here, where the rows are:

* Raising an event (:meth:`EventRepository.fan_out`) runs on the caller's open
  connection, inside the transaction of the change that caused it: one outbox row per
  online binding of the event, one offline-queue row per offline binding, or a journal
  line "no binding" when nobody listens. A rolled-back change leaves nothing behind.
* A deliverer claims due rows with one ``UPDATE`` that sets its claim token and a lease
  (``claimed_until``); rows claimed by someone else whose lease has not lapsed are never
  taken, so several workers and processes never post the same row together (PostgreSQL
  also skips rows another claim has locked). A row whose claimer died is taken again
  once its lease lapses.
* The journal's rows and reads are in ``storage/event_journal.py``.
* Finishing a row deletes it (or, for a retry, releases it with a later ``due_at``) and
  writes its journal line in one transaction, and only while the claim is still ours.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trunkline.domain.events import Binding, JournalEntry
from trunkline.storage import rows
from trunkline.storage.driver import Connection, Driver
from trunkline.storage.event_journal import JournalReads, write_entries, write_refusal
from trunkline.storage.event_offline import OfflineQueue
from trunkline.storage.event_offline import queue as offline_queue
from trunkline.storage.rows import APP_COLUMNS, INSTALL_COLUMNS, columns
from trunkline.storage.secrets import Cipher

_APP_WIDTH = len(APP_COLUMNS)
_INSTALL_WIDTH = len(INSTALL_COLUMNS)


# The bindings of one event, kept by ``fan_out`` under the change mark (a query whose
# tables storage/mark_schema.py must watch: tests/storage/test_mark_triggers.py).
BOUND_SQL = (
    "SELECT b.id, b.install_id, b.handler, b.auth_type, b.event_type,"
    " b.auth_connector FROM event_bindings b WHERE b.portal_id = ? AND b.event = ?"
)


@dataclass(frozen=True, slots=True)
class Finished:
    """A delivered (or refused, or failed) outbox row: delete it, or release it for a retry
    at ``retry_at``, and journal ``entry``, if its claim ``token`` still holds it."""

    row_id: int
    token: str
    entry: JournalEntry
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row with what its delivery needs to know."""

    id: int
    portal_id: int
    install_id: int
    binding_id: int | None
    event: str
    handler: str
    user_id: int
    data: dict[str, Any]
    sealed_auth: str | None
    attempts: int
    bound: bool  # its binding still exists (always True without one)
    installation: Any  # domain.portals.Installation
    app: Any  # domain.portals.Application


BINDING_COLUMNS = (
    "id",
    "portal_id",
    "install_id",
    "event",
    "handler",
    "auth_type",
    "event_type",
    "auth_connector",
    "options",
    "user_id",
)


def _binding_filter(
    install_id: int,
    event: str | None,
    handler: str | None,
    auth_type: int | None,
    event_type: str | None,
    user_id: int | None,
) -> tuple[str, list[object]]:
    where = ["install_id = ?"]
    params: list[object] = [install_id]
    for column, value in (
        ("event", event),
        ("handler", handler),
        ("auth_type", auth_type),
        ("event_type", event_type),
        ("user_id", user_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(where), params


class EventRepository(JournalReads):
    def __init__(self, driver: Driver, cipher: Cipher) -> None:
        self.driver = driver
        self.cipher = cipher
        self.offline = OfflineQueue(driver)  # the offline queue (storage/event_offline.py)
        # The bindings of (portal, event, install), kept under the driver's change mark:
        # binds, unbinds, installs and uninstalls (by any process) move it, call and event
        # writes do not (storage/changes.py), so an event nobody binds costs no SELECT.
        self._bound: dict[tuple[int, str, int | None], tuple[object, list[Any]]] = {}

    def seal(self, auth: dict[str, Any]) -> str | None:
        """A fixed ``auth`` block (it may hold tokens), encrypted for the outbox."""
        return self.cipher.encrypt(json.dumps(auth), "event_auth")

    def unseal(self, sealed: str) -> dict[str, Any]:
        opened = self.cipher.decrypt(sealed, "event_auth")
        found: dict[str, Any] = json.loads(opened or "{}")
        return found

    def transaction(self) -> Any:
        return self.driver.transaction()

    # -- bindings -------------------------------------------------------------------

    async def bind(
        self,
        portal_id: int,
        install_id: int,
        event: str,
        handler: str,
        *,
        auth_type: int = 0,
        event_type: str = "online",
        auth_connector: str = "",
        options: str = "{}",
        user_id: int = 0,
        now: float,
    ) -> int:
        """Add a handler of ``event`` for an install; its id (``event_handler_id``)."""
        row = await self.driver.fetch_one(
            "INSERT INTO event_bindings (portal_id, install_id, event, handler, auth_type,"
            " event_type, auth_connector, options, user_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                portal_id,
                install_id,
                event,
                handler,
                auth_type,
                event_type,
                auth_connector,
                options,
                user_id,
                now,
            ),
        )
        assert row is not None
        return int(row[0])

    async def unbind(self, binding_id: int) -> int:
        return await self.driver.execute("DELETE FROM event_bindings WHERE id = ?", (binding_id,))

    async def bindings(
        self,
        install_id: int,
        *,
        event: str | None = None,
        handler: str | None = None,
        auth_type: int | None = None,
        event_type: str | None = None,
        user_id: int | None = None,
    ) -> list[Binding]:
        """An install's bindings, oldest first, narrowed by the filters given."""
        where, params = _binding_filter(install_id, event, handler, auth_type, event_type, user_id)
        found = await self.driver.fetch_all(
            f"SELECT {columns(BINDING_COLUMNS)} FROM event_bindings WHERE {where} ORDER BY id",
            params,
        )
        return [Binding(*row) for row in found]

    async def unbind_matching(
        self,
        install_id: int,
        *,
        event: str,
        handler: str | None,
        auth_type: int | None,
        event_type: str,
        user_id: int | None,
    ) -> int:
        """Delete an install's bindings that match; how many."""
        where, params = _binding_filter(install_id, event, handler, auth_type, event_type, user_id)
        return await self.driver.execute(f"DELETE FROM event_bindings WHERE {where}", params)

    # -- raising --------------------------------------------------------------------

    async def fan_out(
        self,
        conn: Connection,
        portal_id: int,
        event: str,
        message: Callable[[], tuple[str, str]],
        *,
        user_id: int,
        install_id: int | None,
        now: float,
    ) -> int:
        """Queue ``event`` for every binding of it; how many rows were queued. ``message``
        gives the event's data (JSON) and its message id, made only when someone binds."""
        sql = BOUND_SQL
        params: list[object] = [portal_id, event]
        if install_id is not None:
            sql += " AND b.install_id = ?"
            params.append(install_id)
        mark = await self.driver.shared_change_mark()
        key = (portal_id, event, install_id)
        kept = self._bound.get(key)
        if kept is not None and kept[0] == mark:
            found = kept[1]
        else:
            found = list(await conn.fetch_all(sql + " ORDER BY b.id", params))
            if len(self._bound) >= 4_096:
                self._bound.clear()
            self._bound[key] = (mark, found)
        if not found:
            await write_refusal(conn, portal_id, event, "no binding", now)
            return 0
        data, message_id = message()
        queued: set[int] = set()  # installs whose offline queue grew
        for binding_id, install, handler, auth_type, event_type, connector in found:
            if event_type == "offline":
                await offline_queue(
                    conn,
                    portal_id,
                    install,
                    binding_id,
                    event,
                    data,
                    message_id=message_id,
                    connector=connector,
                    now=now,
                )
                queued.add(install)
                continue
            await self._outbox_row(
                conn,
                portal_id,
                install,
                binding_id,
                event,
                handler,
                auth_type or user_id,
                data,
                now,
            )
        for install in sorted(queued):
            await self._notify_offline(conn, portal_id, install, user_id, now)
        return len(found)

    @staticmethod
    async def _outbox_row(
        conn: Connection,
        portal_id: int,
        install_id: int,
        binding_id: int,
        event: str,
        handler: str,
        user_id: int,
        data: str,
        now: float,
    ) -> None:
        await conn.execute(
            "INSERT INTO event_outbox (portal_id, install_id, binding_id, event, handler,"
            " user_id, data, attempts, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (portal_id, install_id, binding_id, event, handler, user_id, data, now, now),
        )

    async def _notify_offline(
        self, conn: Connection, portal_id: int, install_id: int, user_id: int, now: float
    ) -> None:
        """``ONOFFLINEEVENT`` to the install's online handlers of it, unless one is
        already waiting in the outbox (notices coalesce)."""
        found = await conn.fetch_all(
            "SELECT b.id, b.handler, b.auth_type FROM event_bindings b WHERE b.install_id = ?"
            " AND b.event = 'ONOFFLINEEVENT' AND b.event_type = 'online' AND NOT EXISTS"
            " (SELECT 1 FROM event_outbox o WHERE o.binding_id = b.id AND o.claim IS NULL)",
            (install_id,),
        )
        for binding_id, handler, auth_type in found:
            await self._outbox_row(
                conn,
                portal_id,
                install_id,
                binding_id,
                "ONOFFLINEEVENT",
                handler,
                auth_type or user_id,
                "{}",
                now,
            )

    async def enqueue(
        self,
        conn: Connection,
        portal_id: int,
        install_id: int,
        event: str,
        handler: str,
        data: str,
        *,
        sealed_auth: str | None,
        now: float,
    ) -> int:
        """Queue an event for one install's handler with no binding (ONAPPINSTALL, ...)."""
        row = await conn.fetch_one(
            "INSERT INTO event_outbox (portal_id, install_id, binding_id, event, handler,"
            " user_id, data, sealed_auth, attempts, due_at, created_at)"
            " VALUES (?, ?, NULL, ?, ?, 0, ?, ?, 0, ?, ?) RETURNING id",
            (portal_id, install_id, event, handler, data, sealed_auth, now, now),
        )
        assert row is not None
        return int(row[0])

    # -- delivering -----------------------------------------------------------------

    async def claim(
        self,
        token: str,
        *,
        now: float,
        lease: float,
        limit: int,
        ids: Sequence[int] = (),
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows (only ``ids`` when given) for ``lease`` seconds."""
        free = "due_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)"
        params: list[object] = [now, now]
        only = ""
        if ids:
            only = f" AND id IN ({', '.join('?' for _ in ids)})"
            params += list(ids)
        lock = " FOR UPDATE SKIP LOCKED" if self.driver.dialect == "postgres" else ""
        async with self.driver.transaction() as conn:
            # The pick is a CTE: PostgreSQL evaluates it once (a subquery with LIMIT and
            # SKIP LOCKED may be run again and claim more than ``limit`` rows).
            await conn.execute(
                f"WITH picked AS (SELECT id FROM event_outbox WHERE {free}{only}"
                f" ORDER BY id LIMIT ?{lock}) UPDATE event_outbox SET claim = ?,"
                f" claimed_until = ? WHERE id IN (SELECT id FROM picked) AND {free}",
                [*params, limit, token, now + lease, now, now],
            )
        found = await self.driver.fetch_all(
            "SELECT o.id, o.portal_id, o.install_id, o.binding_id, o.event, o.handler,"
            " o.user_id, o.data, o.sealed_auth, o.attempts,"
            " (o.binding_id IS NULL OR b.id IS NOT NULL),"
            f" {columns(INSTALL_COLUMNS, 'i')}, {columns(APP_COLUMNS, 'a')}"
            " FROM event_outbox o JOIN app_installs i ON i.id = o.install_id"
            " JOIN apps a ON a.id = i.app_id"
            " LEFT JOIN event_bindings b ON b.id = o.binding_id"
            " WHERE o.claim = ? ORDER BY o.id",
            (token,),
        )
        claimed = []
        for r in found:
            installation = rows.installation(r[11 : 11 + _INSTALL_WIDTH])
            app = rows.app(r[11 + _INSTALL_WIDTH : 11 + _INSTALL_WIDTH + _APP_WIDTH])
            claimed.append(
                OutboxRow(
                    id=int(r[0]),
                    portal_id=int(r[1]),
                    install_id=int(r[2]),
                    binding_id=r[3],
                    event=r[4],
                    handler=r[5],
                    user_id=int(r[6]),
                    data=json.loads(r[7]),
                    sealed_auth=r[8],
                    attempts=int(r[9]),
                    bound=bool(r[10]),
                    installation=installation,
                    app=app,
                )
            )
        return claimed

    async def finish(
        self, row_id: int, token: str, entry: JournalEntry, *, retry_at: float | None = None
    ) -> bool:
        """Journal an attempt and delete its row (or release it until ``retry_at``);
        False when the claim was no longer ours (nothing changed)."""
        return bool(await self.finish_many([Finished(row_id, token, entry, retry_at)]))

    async def finish_many(self, items: Sequence[Finished]) -> set[int]:
        """:meth:`finish` for many rows in one transaction; the ids that were still ours."""
        ours: set[int] = set()
        deletes: dict[str, list[int]] = {}
        async with self.driver.transaction() as conn:
            for item in items:
                if item.retry_at is None:
                    deletes.setdefault(item.token, []).append(item.row_id)
                    continue
                changed = await conn.execute(
                    "UPDATE event_outbox SET attempts = attempts + 1, due_at = ?, claim = NULL,"
                    " claimed_until = NULL WHERE id = ? AND claim = ?",
                    (item.retry_at, item.row_id, item.token),
                )
                if changed:
                    ours.add(item.row_id)
            for token, ids in deletes.items():
                for first in range(0, len(ids), 500):
                    chunk = ids[first : first + 500]
                    found = await conn.fetch_all(
                        "DELETE FROM event_outbox WHERE claim = ? AND id IN"
                        f" ({', '.join('?' for _ in chunk)}) RETURNING id",
                        [token, *chunk],
                    )
                    ours.update(int(row[0]) for row in found)
            await write_entries(conn, [item.entry for item in items if item.row_id in ours])
        return ours

    async def due(self, now: float) -> bool:
        """Whether a row may be claimed now (a read, for idle polls)."""
        row = await self.driver.fetch_one(
            "SELECT 1 FROM event_outbox WHERE due_at <= ? AND (claimed_until IS NULL"
            " OR claimed_until < ?) LIMIT 1",
            (now, now),
        )
        return row is not None

    async def claims(self, prefix: str) -> list[str]:
        """The claim tokens of rows claimed now, that start with ``prefix``."""
        found = await self.driver.fetch_all(
            "SELECT DISTINCT claim FROM event_outbox WHERE claim IS NOT NULL", ()
        )
        return [str(row[0]) for row in found if str(row[0]).startswith(prefix)]

    async def release(self, token: str) -> int:
        """Give back the rows of a claim whose claimer is gone; how many."""
        return await self.driver.execute(
            "UPDATE event_outbox SET claim = NULL, claimed_until = NULL WHERE claim = ?",
            (token,),
        )

    async def pending(self, ids: Sequence[int] = ()) -> list[int]:
        """Ids of the rows still in the outbox (of ``ids`` when given)."""
        sql = "SELECT id FROM event_outbox"
        if ids:
            sql += f" WHERE id IN ({', '.join('?' for _ in ids)})"
        return [int(r[0]) for r in await self.driver.fetch_all(sql + " ORDER BY id", list(ids))]

    async def next_due(self) -> float | None:
        row = await self.driver.fetch_one("SELECT MIN(due_at) FROM event_outbox")
        return None if row is None or row[0] is None else float(row[0])
