"""The request journal's call observer: each :class:`~trunkline.rest.record.CallRecord`
handed to the journal writer (``services/journal.py``) as it is, with the application
clock's time: one tuple and one append on the call's path. The writer makes it into values
(:func:`call_values`), masks, encodes and writes them in batches."""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.rest.record import CallRecord
from trunkline.services.journal import JournalWriter, Pending


def call_values(call: tuple[float, CallRecord]) -> Pending:
    """A call as the observer handed it over (time, record), as the journal's values."""
    at, record = call
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
    return (
        at,
        portal,
        caller,
        user,
        record.method,
        record.params,
        record.http_status,
        record.error_code,
        record.seconds,
        record.batch,
    )


class JournalObserver:
    def __init__(self, writer: JournalWriter, clock: Clock) -> None:
        writer.values = call_values  # the form handed over below
        self.append = writer.pending.append
        self.now = clock.now

    def __call__(self, record: CallRecord) -> None:
        self.append((self.now(), record))
