"""The engine's side of the registration history (``domain/history.py`` has the rules).

* A cloud line's change is taken when the supervisor reports it (``cloud_changed``): what
  it showed before and now, and the messages of the attempt that made it (the runner's
  transcript, times moved from the loop's clock to the application clock).
* An office line's or a user phone's change is taken from the registrar's decision
  (``office_decided``): its state is ``registered`` while it has a live binding,
  ``unregistered`` when it has none, ``refused`` after a wrong digest; the request and the
  answer are the transaction. A phone's entries have kind ``phone`` and its USER_ID in
  place of a CONFIG_ID. The registrar's sweep reports a line or phone whose last binding
  expired (``expired``): ``registered -> unregistered``, "binding expired", no transaction.
  The first decision seen for a line in this process counts as a change only when the
  state differs from what its bindings said before.
* Entries are queued and written by the engine's writer in batches (``flush``). The data
  of an entry's ``ONTRUNKLINELINESTATE`` is made only when an application binds it or its
  portal has an ops webhook (a phone's first REGISTER usually has neither).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol
from urllib.parse import urlencode

from trunkline.domain.history import (
    LINE_STATE_EVENT,
    SECRET_HEADERS,
    HistoryEntry,
    SipRecord,
    event_data,
    mask_header,
)
from trunkline.domain.lines import OfficeBinding
from trunkline.engine.runner import Hop, LineRunner
from trunkline.engine.transport import host_port
from trunkline.events.http import FormPoster
from trunkline.services.calls import EventData
from trunkline.sip.errors import SipParseError
from trunkline.sip.lifecycle import LineResult, LineStatus
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.registrar import Source
from trunkline.storage.driver import Connection
from trunkline.storage.history import HistoryRepository

__all__ = ["HistoryRecorder", "sip_record"]

log = logging.getLogger("trunkline.engine")

RESULTS = {
    LineResult.WAIT: "wait",
    LineResult.IN_PROGRESS: "in_progress",
    LineResult.SUCCESS: "success",
    LineResult.ERROR: "error",
}
MAX_PENDING = 10_000
OPS_TIMEOUT = 5.0
MAX_POSTS = 64  # plain ops webhook POSTs in flight; more are dropped (and logged)


class EventRaiser(Protocol):
    async def raise_event(
        self, conn: Connection, portal_id: int, event: str, data: EventData
    ) -> None: ...


def sip_record(
    message: Request | Response | bytes,
    at: float,
    *,
    outgoing: bool,
    transport: str,
    local: str,
    remote: str,
) -> SipRecord | None:
    """A message as the history keeps it (None: bytes that do not parse)."""
    if isinstance(message, bytes):
        try:
            message = parse_datagram(message)
        except SipParseError:
            return None
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {message.status_code} {message.reason}"
    headers = tuple(  # mask_header called only for the headers it masks
        [(n, mask_header(n, v) if n.lower() in SECRET_HEADERS else v) for n, v in message.headers]
    )
    return SipRecord(at, outgoing, transport.upper(), local, remote, start, headers)


class HistoryRecorder:
    def __init__(
        self,
        repository: HistoryRepository,
        *,
        keep: int,
        wall: Callable[[], float],
        clock: Callable[[], float],
        events: EventRaiser | None = None,
    ) -> None:
        self.repository = repository
        self.events = events
        self.poster = FormPoster()
        self._posts: set[asyncio.Task[None]] = set()
        self.keep = keep
        self._wall = wall
        self._clock = clock
        self.pending: list[HistoryEntry] = []
        # (kind, portal id) -> CONFIG_ID or USER_ID -> the state last seen: one small dict
        # per portal, not a 3-tuple a line or phone (10,000 phones: 0.6 MB less).
        self._office: dict[tuple[str, int], dict[int, str]] = {}

    def _queue(self, entry: HistoryEntry) -> None:
        if len(self.pending) < MAX_PENDING:
            self.pending.append(entry)

    def cloud_changed(self, runner: LineRunner, before: LineStatus, after: LineStatus) -> None:
        wall, now = self._wall(), self._clock()
        records = [self._hop(hop, wall - now) for hop in runner.transcript]
        self._queue(
            HistoryEntry(
                portal_id=runner.key[0],
                config_id=runner.key[1],
                kind="cloud",
                at=wall,
                from_state=RESULTS[before.result],
                to_state=RESULTS[after.result],
                from_code=before.status_code,
                status_code=after.status_code,
                reason=after.error_message or "",
                messages=tuple(r for r in records if r is not None),
            )
        )

    @staticmethod
    def _hop(hop: Hop, shift: float) -> SipRecord | None:
        return sip_record(
            hop.message,
            hop.at + shift,
            outgoing=hop.outgoing,
            transport=hop.transport,
            local=host_port(*hop.local),
            remote=host_port(*hop.remote),
        )

    def office_decided(
        self,
        subject: tuple[str, int, int],
        before: Sequence[OfficeBinding],
        live_after: bool,
        refused: bool,
        exchange: tuple[Request, Response | None, str, tuple[str, int], Source],
        now: float,
    ) -> None:
        """A registrar decision on an office line or a user's phone (``subject``: kind,
        portal id, CONFIG_ID or USER_ID; its bindings ``before`` it, whether one lives
        after it, whether it was a refusal) with its request and answer (``exchange``: the
        request, the answer, the transport, the local address and the request's source)."""
        kind, portal_id, number = subject
        states = self._office.get((kind, portal_id))
        if states is None:  # (not setdefault: its new dict would be made for every call)
            states = self._office[(kind, portal_id)] = {}
        previous = states.get(number)
        if previous is None:
            previous = "registered" if any(b.expires_at > now for b in before) else "unregistered"
        state = "refused" if refused else ("registered" if live_after else "unregistered")
        states[number] = state
        if state == previous:
            return
        request, response, transport, where, source = exchange
        local, remote = host_port(*where), host_port(source.host, source.port)
        records = [
            sip_record(
                request, now, outgoing=False, transport=transport, local=local, remote=remote
            )
        ]
        if response is not None:
            records.append(
                sip_record(
                    response, now, outgoing=True, transport=transport, local=local, remote=remote
                )
            )
        self._queue(
            HistoryEntry(
                portal_id=portal_id,
                config_id=number,
                kind=kind,
                at=now,
                from_state=previous,
                to_state=state,
                from_code=None,
                status_code=response.status_code if response is not None else None,
                reason=response.reason if response is not None and refused else "",
                messages=tuple(r for r in records if r is not None),
            )
        )

    def expired(self, subject: tuple[str, int, int], at: float) -> None:
        """An office line's or a phone's last binding expired (the registrar's sweep)."""
        kind, portal_id, number = subject
        states = self._office.setdefault((kind, portal_id), {})
        if states.get(number) == "unregistered":
            return
        states[number] = "unregistered"
        self._queue(
            HistoryEntry(
                portal_id=portal_id,
                config_id=number,
                kind=kind,
                at=at,
                from_state="registered",
                to_state="unregistered",
                from_code=None,
                status_code=None,
                reason="binding expired",
            )
        )

    async def flush(self) -> None:
        """Write the queued entries, raise ``ONTRUNKLINELINESTATE`` for each in the same
        transaction, then POST them to the portals' plain ops webhooks."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            async with self.repository.driver.transaction() as conn:
                await self.repository.append_on(conn, batch, self.keep)
                if self.events is not None:
                    for e in batch:  # its data made only if someone binds it
                        data = partial(event_data, e)
                        await self.events.raise_event(conn, e.portal_id, LINE_STATE_EVENT, data)
            hooks = await self.repository.ops_webhooks(e.portal_id for e in batch)
        except Exception:
            log.exception("could not write %d registration history entries", len(batch))
            return
        for e in batch:
            url = hooks.get(e.portal_id)
            if url is not None:
                self._post(url, e)

    def _post(self, url: str, entry: HistoryEntry) -> None:
        if len(self._posts) >= MAX_POSTS:
            log.warning("ops webhook %s: too many POSTs in flight, one dropped", url)
            return
        form = [("event", LINE_STATE_EVENT), ("portal_id", str(entry.portal_id))]
        form += [(f"data[{k}]", "" if v is None else str(v)) for k, v in event_data(entry).items()]
        task = asyncio.ensure_future(self._send(url, urlencode(form).encode()))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _send(self, url: str, body: bytes) -> None:
        try:
            status = await self.poster.post(url, body, OPS_TIMEOUT)
        except Exception as exc:
            log.warning("ops webhook %s not delivered: %s", url, exc)
            return
        if not 200 <= status < 300:
            log.warning("ops webhook %s answered HTTP %d", url, status)

    async def close(self) -> None:
        if self._posts:
            await asyncio.wait(list(self._posts), timeout=OPS_TIMEOUT)
        await self.poster.close()
