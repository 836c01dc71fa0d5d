"""The request journal's call observer: each :class:`~trunkline.rest.record.CallRecord`
handed to the journal writer (``services/journal.py``) as plain values, with the
application clock's time; the writer masks, encodes and writes them in batches."""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.rest.record import CallRecord
from trunkline.services.journal import JournalWriter


class JournalObserver:
    def __init__(self, writer: JournalWriter, clock: Clock) -> None:
        self.add = writer.add
        self.now = clock.now

    def __call__(self, record: CallRecord) -> None:
        principal = record.principal
        if principal is None:
            host = record.host
            portal = host.rsplit(":", 1)[0].lower() if host else None
            self.add(
                (
                    self.now(),
                    portal,
                    None,
                    None,
                    record.method,
                    record.params,
                    record.http_status,
                    record.error_code,
                    record.seconds,
                    record.batch,
                )
            )
            return
        caller = (
            f"webhook:{principal.webhook_id}"
            if principal.app_id is None
            else f"app:{principal.app_id}"
        )
        self.add(
            (
                self.now(),
                principal.portal.domain,
                caller,
                principal.user.user_id,
                record.method,
                record.params,
                record.http_status,
                record.error_code,
                record.seconds,
                record.batch,
            )
        )
