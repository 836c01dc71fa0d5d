"""Business rules of a call's life, whoever makes the call (``domain/calls.py``).

Rules:

* :meth:`CallService.register` stores a live call and raises ``ONVOXIMPLANTCALLINIT``; a
  call registered as already answered (``NewCall.answered_by``: an external call starts
  when it is registered) raises ``ONVOXIMPLANTCALLSTART`` too. :meth:`answer` marks a
  ringing call answered and raises ``ONVOXIMPLANTCALLSTART``. :meth:`finish` turns the live
  call into its statistics record in one transaction and raises ``ONVOXIMPLANTCALLEND``.
* Every event is raised with the open connection of the transaction that made the change
  (the events outbox), through :class:`CallEvents`; a caller that writes more in the same
  transaction (a line, a CRM lead) hands its own connection in (``conn``).
* Every time is the application clock's: CALL_IDs carry its seconds, ``started_at``
  defaults to it, and re-registration windows read it.
* CALL_IDs come from the one source of randomness (``ids``): ``<prefix>.<32 hex>.<unix>``.
* ``voximplant.statistic.get`` reads :meth:`statistics`: one portal's records, only the
  caller's own unless the caller may see everyone's (administrators).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from trunkline.domain.calls import (
    EVENT_CALL_END,
    EVENT_CALL_INIT,
    EVENT_CALL_START,
    CallEnd,
    CallRecord,
    LiveCall,
    NewCall,
    RecentKey,
    end_data,
    ended,
    init_data,
    make_call_id,
    start_data,
)
from trunkline.domain.clock import Clock
from trunkline.domain.dates import iso_date
from trunkline.domain.ids import ordered_hex
from trunkline.domain.portals import Portal
from trunkline.domain.statistics import StatQuery
from trunkline.storage.calls import CallRepository
from trunkline.storage.driver import Connection


class IdSource(Protocol):
    """The one source of randomness for generated ids (``token_hex`` of ``nbytes``, drawn
    from the stream of ``scope``, a portal's domain)."""

    def token_hex(self, nbytes: int, scope: str = "") -> str: ...

    def ordered_hex(self, nbytes: int, scope: str, now: float) -> str:
        """``token_hex`` that sorts by ``now`` where the source is not seeded."""
        ...


class SystemIds:
    """Ids from the operating system's randomness (the default source)."""

    def token_hex(self, nbytes: int, scope: str = "") -> str:
        return secrets.token_hex(nbytes)

    def ordered_hex(self, nbytes: int, scope: str, now: float) -> str:
        return ordered_hex(nbytes, now)


EventData = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def event_data(data: EventData) -> Mapping[str, Any]:
    """An event's data: given, or made by the callable (only when someone binds it)."""
    return data() if callable(data) else data


class CallEvents(Protocol):
    """Where call events are raised: in the caller's open transaction (``conn``), for
    the portal's applications, or for one application's install (``install_id``).
    ``user_id`` and ``app_id`` (client id) say whose action raised it. ``data`` may be a
    callable that makes it (:func:`event_data`), so an event nobody binds makes none."""

    async def raise_event(
        self,
        conn: Connection,
        portal_id: int,
        event: str,
        data: EventData,
        *,
        user_id: int = 0,
        app_id: str | None = None,
        install_id: int | None = None,
    ) -> None: ...


class NoEvents:
    """Raises nothing (no event system attached)."""

    async def raise_event(
        self,
        conn: Connection,
        portal_id: int,
        event: str,
        data: EventData,
        *,
        user_id: int = 0,
        app_id: str | None = None,
        install_id: int | None = None,
    ) -> None:
        return None


class CallService:
    def __init__(
        self,
        repo: CallRepository,
        clock: Clock,
        *,
        events: CallEvents | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.events: CallEvents = events or NoEvents()
        self.ids: IdSource = ids or SystemIds()

    def new_call_id(self, prefix: str, portal: Portal) -> str:
        """``<prefix>.<32 hex>.<unix seconds>`` (``externalCall``, ``callback``, ...); the hex
        begins with the time in milliseconds unless ids are seeded (``domain/ids.py``)."""
        now = self.clock.now()
        return make_call_id(prefix, self.ids.ordered_hex(16, portal.domain, now), now)

    @asynccontextmanager
    async def _writing(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
            return
        async with self.repo.transaction() as own:
            yield own

    # -- a call's life --------------------------------------------------------------

    async def register(
        self,
        portal: Portal,
        new: NewCall,
        *,
        app_id: str | None = None,
        cause_user: int = 0,
        conn: Connection | None = None,
        init_extra: Mapping[str, str] | None = None,
    ) -> LiveCall | None:
        """Store a live call and raise its events; None when its CALL_ID is taken."""
        now = self.clock.now()
        if conn is not None:  # (no _writing: this runs for every registration)
            return await self._register(conn, portal, new, now, app_id, cause_user, init_extra)
        async with self.repo.transaction() as tx:
            return await self._register(tx, portal, new, now, app_id, cause_user, init_extra)

    async def _register(
        self,
        tx: Connection,
        portal: Portal,
        new: NewCall,
        now: float,
        app_id: str | None,
        cause_user: int,
        init_extra: Mapping[str, str] | None,
    ) -> LiveCall | None:
        answered_at = now if new.answered_by is not None else None
        call = await self.repo.insert_call(tx, portal.id, new, answered_at=answered_at, now=now)
        if call is None:
            return None
        who = cause_user or new.user_id
        await self.events.raise_event(
            tx,
            portal.id,
            EVENT_CALL_INIT,
            lambda: {**init_data(new), **(init_extra or {})},
            user_id=who,
            app_id=app_id,
        )
        answered_by = new.answered_by
        if answered_by is not None:
            await self.events.raise_event(
                tx,
                portal.id,
                EVENT_CALL_START,
                lambda: start_data(new.call_id, answered_by),
                user_id=who,
                app_id=app_id,
            )
        return call

    async def answer(
        self, portal: Portal, call_id: str, user_id: int, *, app_id: str | None = None
    ) -> bool:
        """A ringing call is answered by ``user_id``; False when no such call rings."""
        async with self.repo.transaction() as tx:
            if not await self.repo.answer(tx, portal.id, call_id, user_id, self.clock.now()):
                return False
            await self.events.raise_event(
                tx,
                portal.id,
                EVENT_CALL_START,
                start_data(call_id, user_id),
                user_id=user_id,
                app_id=app_id,
            )
        return True

    async def finish(
        self,
        portal: Portal,
        call: LiveCall,
        end: CallEnd,
        *,
        crm_activity_id: int | None = None,
        app_id: str | None = None,
        conn: Connection | None = None,
    ) -> CallRecord | None:
        """End a live call: its statistics record, stored; None when it already ended."""
        record = ended(call, end, crm_activity_id)
        async with self._writing(conn) as tx:
            stored = await self.repo.end(tx, record, self.clock.now())
            if stored is None:
                return None
            await self._ended(tx, portal, stored, end.user_id, app_id)
        return stored

    async def finish_live(
        self,
        portal: Portal,
        call_id: str,
        end: CallEnd,
        *,
        admit: Callable[[LiveCall], None] | None = None,
        app_id: str | None = None,
    ) -> CallRecord | None:
        """End the live call ``call_id`` as :meth:`finish` does, reading it as it is deleted
        (one statement); None when there is none. ``admit`` may refuse the call by raising:
        the transaction then rolls back and the call stays live."""
        async with self.repo.transaction() as tx:
            call = await self.repo.take_live(tx, portal.id, call_id)
            if call is None:
                return None
            if admit is not None:
                admit(call)
            stored = await self.repo.insert_record(tx, ended(call, end, None), self.clock.now())
            await self._ended(tx, portal, stored, end.user_id, app_id)
        return stored

    async def _ended(
        self, tx: Connection, portal: Portal, stored: CallRecord, user_id: int, app_id: str | None
    ) -> None:
        await self.events.raise_event(
            tx,
            portal.id,
            EVENT_CALL_END,
            lambda: end_data(stored, iso_date(stored.started_at, portal.timezone)),
            user_id=user_id,
            app_id=app_id,
        )

    # -- reads ------------------------------------------------------------------------

    async def live(self, portal_id: int, call_id: str) -> LiveCall | None:
        return await self.repo.live_call(portal_id, call_id)

    async def recent(self, portal_id: int, key: RecentKey) -> LiveCall | None:
        """The live call a registration with ``key`` repeats (within its window)."""
        return await self.repo.recent_call(portal_id, key)

    async def record(self, portal_id: int, call_id: str) -> CallRecord | None:
        return await self.repo.record(portal_id, call_id)

    async def statistics(self, query: StatQuery) -> tuple[int | None, tuple[CallRecord, ...]]:
        """(total, page) of one portal's records; total None when not counted."""
        return await self.repo.records(query)
