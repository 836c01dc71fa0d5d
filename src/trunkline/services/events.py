"""Business rules of outbound events: raising them into the outbox (``docs/events.md``).

Rules:

* :meth:`EventService.raise_event` is the :class:`~trunkline.services.calls.CallEvents`
  of the server: it writes the event, on the caller's open connection, for every
  handler bound to it on the portal (only the handlers of ``install_id`` when given),
  in the transaction of the change that raised it. Nothing is posted here: the
  deliverer (``services/outbox.py``) does, in the background, after the commit.
* Event names are compared and sent in upper case (``ONVOXIMPLANTCALLEND``), as the
  real service sends them whatever case they were bound in.
* ``user_id`` is the user whose action raised the event: the handler's ``auth`` block
  carries that user's token unless the binding names another (``auth_type``); 0 (no
  user: the system, an agent) sends no token.
* :meth:`fire` raises an event in a transaction of its own (the operator API and
  ``trunkline event fire``).

Binding rules (``event.bind``, ``event.unbind``, ``event.get``; the pages' errors, and
the core's where the pages are silent, see ``docs/events.md``):

* A user who is not an administrator binds only online events (403 "Access denied!
  Offline events binding requires administrator access rights"), on their own behalf
  (another user's ``auth_type``: 403 "Access denied! Event binding with AUTH_TYPE
  requires administrator access rights"), and unbinds and lists only the handlers they
  bound (the same two refusals, with "unbinding").
* An online handler must be a URL with a host (400 ``ERROR_WRONG_HANDLER_URL``) and an
  ``http``/``https`` scheme (400 ``ERROR_UNSUPPORTED_PROTOCOL``); loopback and private
  hosts are allowed, unlike on the real service. Offline bindings have no handler.
* The event must be one the app's scopes offer (400 ``ERROR_EVENT_NOT_FOUND``); the same
  event, handler, ``auth_type`` and type bound twice is 400 ``ERROR_CORE`` "Unable to set
  event handler: Handler already binded".
* ``event.unbind`` that matches nothing is 404 ``ERROR_NOT_FOUND`` "Handler not found";
  without ``auth_type`` it removes every ``auth_type`` of the event and handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from trunkline.domain.clock import Clock
from trunkline.domain.events import (
    OFFLINE,
    ONLINE,
    Binding,
    Condition,
    JournalEntry,
    JournalQuery,
    OfflineRecord,
    Order,
    offered,
)
from trunkline.domain.portals import User
from trunkline.errors import (
    AccessDeniedError,
    EventNotFoundError,
    HandlerNotFoundError,
    RefusedError,
    UnsupportedProtocolError,
    WrongHandlerUrlError,
)
from trunkline.services.calls import EventData, event_data
from trunkline.storage.driver import Connection
from trunkline.storage.events import EventRepository


def _nothing() -> None:
    return None


class EventService:
    def __init__(
        self,
        repo: EventRepository,
        clock: Clock,
        *,
        wake: Callable[[], None] = _nothing,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.wake = wake  # tells the deliverer of this process that rows may be due

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
        await self._raise(conn, portal_id, event, data, user_id, install_id)

    async def _raise(
        self,
        conn: Connection,
        portal_id: int,
        event: str,
        data: EventData,
        user_id: int,
        install_id: int | None,
    ) -> int:
        name = event.upper()

        def message() -> tuple[str, str]:
            """The data as posted, and the message id: the object's latest state, one
            waiting offline record per event and data (made only when someone binds)."""
            made = event_data(data)
            text = json.dumps(made, separators=(",", ":"))
            key = f"{name}|{json.dumps(made, separators=(',', ':'), sort_keys=True)}"
            return text, hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()

        queued = await self.repo.fan_out(
            conn,
            portal_id,
            name,
            message,
            user_id=user_id,
            install_id=install_id,
            now=self.clock.now(),
        )
        if queued:
            self.wake()
        return queued

    async def fire(
        self,
        portal_id: int,
        event: str,
        data: Mapping[str, Any],
        *,
        user_id: int = 0,
        install_id: int | None = None,
    ) -> int:
        """Raise ``event`` in a transaction of its own; how many handlers it was queued for."""
        async with self.repo.transaction() as conn:
            return await self._raise(conn, portal_id, event, data, user_id, install_id)

    async def enqueue(
        self,
        conn: Connection,
        portal_id: int,
        install_id: int,
        event: str,
        handler: str,
        data: Mapping[str, Any],
        auth: dict[str, Any],
    ) -> int:
        """Queue an event for one install's own handler URL, with a fixed ``auth`` block
        (ONAPPINSTALL, ONAPPUNINSTALL); the outbox row's id."""
        row_id = await self.repo.enqueue(
            conn,
            portal_id,
            install_id,
            event,
            handler,
            json.dumps(data, separators=(",", ":")),
            sealed_auth=self.repo.seal(auth),
            now=self.clock.now(),
        )
        self.wake()
        return row_id

    # -- bindings ---------------------------------------------------------------------

    async def bind(
        self,
        portal_id: int,
        install_id: int,
        scopes: Sequence[str],
        user: User,
        *,
        event: str,
        handler: str,
        auth_type: int | None,
        event_type: str,
        auth_connector: str = "",
        options: Mapping[str, Any] | None = None,
    ) -> int:
        """Bind a handler for an install; the binding's id."""
        name = event.upper()
        if not user.is_admin:
            if event_type == OFFLINE:
                raise AccessDeniedError(
                    "Access denied! Offline events binding requires administrator access rights"
                )
            if auth_type not in (None, 0, user.user_id):
                raise AccessDeniedError(
                    "Access denied! Event binding with AUTH_TYPE requires administrator"
                    " access rights"
                )
            auth_type = user.user_id
        handler = check_handler(handler) if event_type == ONLINE else ""
        if name not in offered(tuple(scopes)):
            raise EventNotFoundError()
        taken = await self.repo.bindings(
            install_id, event=name, handler=handler, auth_type=auth_type or 0, event_type=event_type
        )
        if taken:
            raise RefusedError("Unable to set event handler: Handler already binded")
        return await self.repo.bind(
            portal_id,
            install_id,
            name,
            handler,
            auth_type=auth_type or 0,
            event_type=event_type,
            auth_connector=auth_connector,
            options=json.dumps(dict(options or {}), separators=(",", ":")),
            user_id=user.user_id,
            now=self.clock.now(),
        )

    async def unbind(
        self,
        install_id: int,
        user: User,
        *,
        event: str,
        handler: str,
        auth_type: int | None,
        event_type: str,
    ) -> int:
        """Remove matching handlers of an install; how many (HandlerNotFoundError: none)."""
        if not user.is_admin:
            if event_type == OFFLINE:
                raise AccessDeniedError(
                    "Access denied! Offline events unbinding requires administrator access rights"
                )
            if auth_type not in (None, 0, user.user_id):
                raise AccessDeniedError(
                    "Access denied! Event unbinding with AUTH_TYPE requires administrator"
                    " access rights"
                )
        removed = await self.repo.unbind_matching(
            install_id,
            event=event.upper(),
            handler=handler if event_type == ONLINE else None,
            auth_type=auth_type,
            event_type=event_type,
            user_id=None if user.is_admin else user.user_id,
        )
        if not removed:
            raise HandlerNotFoundError()
        return removed

    async def bindings(self, install_id: int, user: User) -> list[Binding]:
        """An install's handlers (only those the user bound, unless an administrator)."""
        return await self.repo.bindings(install_id, user_id=None if user.is_admin else user.user_id)

    # -- the offline queue (administrators only) ----------------------------------------

    async def offline_take(
        self,
        install_id: int,
        user: User,
        *,
        connector: str,
        conditions: Sequence[Condition],
        order: Order,
        limit: int,
        process_id: str | None,
        errors: bool,
        clear: bool,
    ) -> tuple[str | None, list[OfflineRecord]]:
        """``event.offline.get``: (the process id of a reservation, or None when the
        records were cleared; the records)."""
        _administrator(user)
        token = process_id or secrets.token_hex(16)
        records = await self.repo.offline.take(
            install_id,
            connector=connector,
            conditions=conditions,
            order=order,
            limit=limit,
            process_id=process_id,
            errors=errors,
            clear=clear,
            token=token,
        )
        return (None if clear else token), records

    async def offline_records(
        self,
        install_id: int,
        user: User,
        *,
        connector: str,
        conditions: Sequence[Condition],
        order: Order,
        start: int,
        limit: int = 50,
    ) -> tuple[int, list[OfflineRecord]]:
        _administrator(user)
        return await self.repo.offline.records(
            install_id,
            connector=connector,
            conditions=conditions,
            order=order,
            start=start,
            limit=limit,
        )

    async def offline_clear(
        self,
        install_id: int,
        user: User,
        process_id: str,
        *,
        ids: Sequence[int] = (),
        message_ids: Sequence[str] = (),
    ) -> int:
        _administrator(user)
        return await self.repo.offline.clear(
            install_id, process_id, ids=ids, message_ids=message_ids
        )

    async def offline_error(
        self, install_id: int, user: User, process_id: str, message_ids: Sequence[str]
    ) -> int:
        _administrator(user)
        return await self.repo.offline.mark_errors(install_id, process_id, message_ids)

    # -- the journal ------------------------------------------------------------------

    async def journal(self, query: JournalQuery) -> list[JournalEntry]:
        return await self.repo.journal(query)

    async def delivered(
        self,
        event: str,
        *,
        portal_id: int | None = None,
        outcome: str = "delivered",
        after: int = 0,
    ) -> int:
        """How many deliveries of ``event`` ended with ``outcome`` (journal ids > ``after``)."""
        return await self.repo.count(event.upper(), outcome, portal_id=portal_id, after=after)

    async def wait(
        self,
        event: str,
        count: int,
        *,
        timeout: float,
        portal_id: int | None = None,
        outcome: str = "delivered",
        after: int = 0,
    ) -> tuple[bool, int]:
        """Wait (real time, bounded by ``timeout``) until ``count`` deliveries of ``event``
        ended with ``outcome``; (whether they did, how many did)."""
        deadline = self.clock.monotonic() + timeout
        while True:
            found = await self.delivered(event, portal_id=portal_id, outcome=outcome, after=after)
            if found >= count:
                return True, found
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False, found
            await asyncio.sleep(min(0.02, left))

    async def last_journal_id(self) -> int:
        return await self.repo.last_id()


def _administrator(user: User) -> None:
    """The offline queue is the administrator's (403 "Access denied!" for anyone else)."""
    if not user.is_admin:
        raise AccessDeniedError()


def check_handler(handler: str) -> str:
    """An online handler URL, as the core checks it (a host, then an http(s) scheme)."""
    try:
        parts = urlsplit(handler)
        host = parts.hostname
    except ValueError:
        raise WrongHandlerUrlError() from None
    if not host:
        raise WrongHandlerUrlError()
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsupportedProtocolError()
    return handler


def journal_row(entry: JournalEntry) -> dict[str, Any]:
    """A journal line as the operator API and ``trunkline event log --json`` show it."""
    return {
        "id": entry.id,
        "time": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "portal_id": entry.portal_id,
        "event": entry.event,
        "app": entry.app_id,
        "handler": entry.handler,
        "attempt": entry.attempt,
        "outcome": entry.outcome,
        "status": entry.status,
        "reason": entry.reason,
        "ms": entry.duration_ms,
        "binding_id": entry.binding_id,
        "outbox_id": entry.outbox_id,
    }
