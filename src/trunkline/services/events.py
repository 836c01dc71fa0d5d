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
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from trunkline.domain.clock import Clock
from trunkline.storage.driver import Connection
from trunkline.storage.events import EventRepository, JournalEntry, JournalQuery


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
        data: Mapping[str, Any],
        *,
        user_id: int = 0,
        app_id: str | None = None,
        install_id: int | None = None,
    ) -> None:
        queued = await self.repo.fan_out(
            conn,
            portal_id,
            event.upper(),
            json.dumps(data, separators=(",", ":")),
            user_id=user_id,
            install_id=install_id,
            now=self.clock.now(),
            message_id=secrets.token_hex(16),
        )
        if queued:
            self.wake()

    async def fire(
        self,
        portal_id: int,
        event: str,
        data: Mapping[str, Any],
        *,
        user_id: int = 0,
        install_id: int | None = None,
    ) -> None:
        """Raise ``event`` in a transaction of its own."""
        async with self.repo.transaction() as conn:
            await self.raise_event(
                conn, portal_id, event, data, user_id=user_id, install_id=install_id
            )

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

    # -- the journal ------------------------------------------------------------------

    async def journal(self, query: JournalQuery) -> list[JournalEntry]:
        return await self.repo.journal(query)

    async def delivered(self, event: str, *, portal_id: int | None = None) -> int:
        """How many deliveries of ``event`` succeeded."""
        return await self.repo.count(event.upper(), "delivered", portal_id=portal_id)
