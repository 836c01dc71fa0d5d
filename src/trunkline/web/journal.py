"""The request journal's call observer: each :class:`~trunkline.rest.record.CallRecord`
handed to the journal writer (``services/journal.py``) as its row's values, with the
application clock's time: one ``list.extend`` of atomic values (and the parameters, as
parsed), nothing the garbage collector has to follow. The writer masks, encodes and writes
them in batches."""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.rest.record import CallRecord
from trunkline.services.journal import JournalWriter


class JournalObserver:
    def __init__(self, writer: JournalWriter, clock: Clock) -> None:
        self.extend = writer.pending.extend
        self.now = clock.now

    def __call__(self, record: CallRecord) -> None:
        principal = record.principal
        if principal is None:
            host = record.host
            portal = host.rsplit(":", 1)[0].lower() if host else None
            caller: str | None = None
            user: int | None = None
        else:
            portal = principal.portal.domain
            caller = (
                f"webhook:{principal.webhook_id}"
                if principal.app_id is None
                else f"app:{principal.app_id}"
            )
            user = principal.user.user_id
        self.extend(
            (
                self.now(),
                portal,
                caller,
                user,
                record.method,
                record.params,
                record.http_status,
                record.error_code,
                record.seconds * 1000,
                record.batch,
            )
        )
