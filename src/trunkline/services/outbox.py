"""The deliverer: a background task of the server that posts the outbox to the handlers.

Rules:

* It claims due rows (``storage/events.py``: an ``UPDATE`` with a claim token and a
  lease of ``event_timeout`` + 5 seconds), posts each as Bitrix24 does and finishes
  it: the row goes, its journal line comes, in one transaction. Several workers and
  processes run one each; a claimed row is posted by its claimer only.
* At most ``event_concurrency`` posts are in flight; each waits at most
  ``event_timeout`` seconds. The REST path never waits for any of this.
* Only installed apps get events: a row of an uninstalled app is journaled "app not
  installed" (``ONAPPUNINSTALL`` excepted), a row whose binding was removed before
  delivery "handler unbound", and neither is posted.
* A failed attempt is retried ``event_retries`` times (0 by default: the real service
  never retries), ``event_retry_delay_ms`` x 1, 2, 4, ... apart; each attempt is a
  journal line.
* The ``auth`` block (``events/forms.py``) is the row's fixed block (ONAPPINSTALL,
  ONAPPUNINSTALL), else the app's tokens for the event's user (a pair issued for the
  install and that user, reused while it has more than a minute to live) with the
  portal's domain and the install's ``application_token``; with no user, only the
  portal, the endpoints and the application token.
* Journal lines older than ``event_journal_days`` are deleted, at most once a minute.
* Rows stay in the outbox until they are finished: a restart, or a kill, loses none. A
  claim token names its claimer (a hash of the host name, then the pid): a deliverer that
  starts gives back at once the claims of this host's processes that are gone (killed),
  rather than waiting for their leases; a row in flight when its claimer was killed is
  posted again (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from trunkline.auth.oauth import endpoints, token_answer
from trunkline.auth.tokens import fresh_tokens, hash_secret, token_pair
from trunkline.domain.clock import Clock
from trunkline.domain.events import JournalEntry
from trunkline.domain.portals import Endpoints, Portal, TokenPair
from trunkline.events.delivery import (
    DELIVERED,
    REFUSED,
    Attempt,
    Delivery,
    Post,
    attempt,
    encode_form,
    give_up,
)
from trunkline.events.forms import event_form
from trunkline.services.waits import woken
from trunkline.settings import Settings
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.apps import AppRepository
from trunkline.storage.events import EventRepository, Finished, OutboxRow
from trunkline.storage.processes import pid_alive

log = logging.getLogger("trunkline.events")

POLL_SECONDS = 0.25  # how often the outbox is read when nothing woke the deliverer
LEASE_MARGIN = 5.0  # seconds a claim outlives its post's timeout (a dead claimer's rows wait)
TOKEN_REUSE_MARGIN = 60.0  # an event token is reused while it lives longer than this
TOKEN_CHECK_SECONDS = 1.0  # how often a reused token is looked up (a refresh may rotate it)
TRIM_SECONDS = 60.0  # how often the journal's lines older than event_journal_days are deleted


class Deliverer:
    def __init__(
        self,
        events: EventRepository,
        apps: AppRepository,
        accounts: AccountRepository,
        settings: Settings,
        clock: Clock,
        *,
        post: Post,
        base: Callable[[], Awaitable[str]],
    ) -> None:
        self.events = events
        self.apps = apps
        self.accounts = accounts
        self.settings = settings
        self.clock = clock
        self.post = post
        self.base = base
        self.concurrency = max(1, settings.event_concurrency)
        self.timeout = float(settings.event_timeout)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._tokens: dict[tuple[int, float, int], TokenPair] = {}
        self._app_tokens: dict[tuple[int, float], str] = {}
        self._portals: dict[int, Portal] = {}
        self._where: dict[tuple[int, str], Endpoints] = {}
        self._finishing: list[tuple[Finished, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._checked: dict[tuple[int, float, int], float] = {}  # token last seen stored
        host = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()
        self._claimer = f"{host[:8]}{os.getpid() & 0xFFFFFFFF:08x}"  # + 16 random hex
        self.alive = pid_alive
        self._trimmed_at = float("-inf")  # monotonic

    # -- the background task ------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-deliverer")

    async def stop(self) -> None:
        """Stop claiming, let the posts in flight finish (bounded by their timeout)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self.timeout + 1)

    async def release_dead(self) -> int:
        """Give back the claims of this host's processes that are gone; how many rows."""
        released = 0
        for token in await self.events.claims(self._claimer[:8]):
            pid = int(token[8:16], 16)
            if not self.alive(pid):
                released += await self.events.release(token)
        if released:
            log.warning(
                "%d event(s) claimed by a process that is gone: posting them again", released
            )
        return released

    async def _run(self) -> None:
        try:
            await self.release_dead()
        except Exception:
            log.exception("giving back the claims of dead processes failed")
        while True:
            try:
                claimed = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the event outbox failed")
                claimed = 0
            await self.trim_journal()
            if claimed:
                continue
            self._wake.clear()
            await woken(self._wake, POLL_SECONDS)

    async def trim_journal(self) -> int:
        """At most every ``TRIM_SECONDS``: delete the journal's lines older than
        ``event_journal_days`` (0: none); how many went."""
        days = self.settings.event_journal_days
        if not days or self.clock.monotonic() - self._trimmed_at < TRIM_SECONDS:
            return 0
        self._trimmed_at = self.clock.monotonic()
        try:
            return await self.events.trim(self.clock.now() - days * 86_400.0)
        except Exception:
            log.exception("trimming the event journal failed")
            return 0

    async def round(self, ids: Sequence[int] = ()) -> int:
        """Claim what there is room for and start posting it; how many rows were claimed."""
        while len(self._inflight) >= self.concurrency:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
        if not ids and not await self.events.due(self.clock.now()):
            return 0  # an idle poll reads, never writes
        token = self._claimer + secrets.token_hex(8)
        rows = await self.events.claim(
            token,
            now=self.clock.now(),
            lease=self.timeout + LEASE_MARGIN,
            limit=self.concurrency - len(self._inflight),
            ids=ids,
        )
        for row in rows:
            task = asyncio.get_running_loop().create_task(self._deliver(row, token))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event delivery crashed", exc_info=task.exception())
        self._wake.set()

    # -- delivering now (the CLI) --------------------------------------------------------

    async def deliver_now(self, ids: Sequence[int], deadline: float) -> list[Delivery]:
        """Deliver the rows ``ids`` in this process (or wait while another has them),
        until each is finished or ``deadline`` (monotonic) passes; how each ended."""
        while True:
            pending = await self.events.pending(ids)
            if not pending or self.clock.monotonic() >= deadline:
                break
            await self.round(pending)
            if self._inflight:
                await asyncio.wait(self._inflight)
            elif await self.events.pending(ids):
                await asyncio.sleep(0.05)  # claimed elsewhere, or due later
        entries = await self.events.journal_of(ids)
        last = {entry.outbox_id: entry for entry in entries}
        deliveries = []
        for row_id in ids:
            entry = last.get(row_id)
            if entry is None:
                deliveries.append(Delivery("", False, 0, "not delivered yet"))
                continue
            ok = entry.outcome == DELIVERED
            deliveries.append(Delivery(entry.handler, ok, entry.attempt, entry.reason or None))
        return deliveries

    # -- finishing rows, many per transaction ----------------------------------------------

    async def _finish(self, item: Finished) -> None:
        """Finish a row together with the others finished in this loop turn (one
        transaction for all of them); returns once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of this loop turn's rows join
        while self._finishing:
            batch, self._finishing = self._finishing, []
            try:
                await self.events.finish_many([item for item, _ in batch])
            except Exception as exc:  # the database failed: each row is claimed again later
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    # -- one row ------------------------------------------------------------------------

    async def _deliver(self, row: OutboxRow, token: str) -> None:
        now = self.clock.now()
        entry = JournalEntry(
            portal_id=row.portal_id,
            event=row.event,
            outcome=REFUSED,
            handler=row.handler,
            outbox_id=row.id,
            install_id=row.install_id,
            binding_id=row.binding_id,
            app_id=row.app.client_id,
            attempt=row.attempts + 1,
            at=now,
        )
        if not row.bound:
            await self._finish(Finished(row.id, token, _with(entry, reason="handler unbound")))
            return
        if not row.installation.active and row.event != "ONAPPUNINSTALL":
            await self._finish(Finished(row.id, token, _with(entry, reason="app not installed")))
            return
        handler_id = row.binding_id if row.binding_id is not None else row.install_id
        auth = await self._auth(row, now)
        body = encode_form(event_form(row.event, handler_id, row.data, now, auth))
        started = self.clock.monotonic()
        result: Attempt = await attempt(self.post, row.handler, body, self.timeout)
        took = (self.clock.monotonic() - started) * 1000
        done = _with(
            entry,
            outcome=result.outcome,
            status=result.status,
            reason=result.reason,
            duration_ms=round(took, 3),
            at=self.clock.now(),
        )
        retry_at = None
        retries = self.settings.event_retries
        if result.outcome not in (DELIVERED, REFUSED) and row.attempts < retries:
            delay = self.settings.event_retry_delay_ms / 1000 * 2**row.attempts
            retry_at = self.clock.now() + delay
        elif result.outcome != DELIVERED:
            give_up()
        await self._finish(Finished(row.id, token, done, retry_at))
        if retry_at is not None:
            asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _auth(self, row: OutboxRow, now: float) -> dict[str, Any]:
        if row.sealed_auth is not None:
            return self.events.unseal(row.sealed_auth)
        portal = await self._portal(row.portal_id)
        base = await self.base()
        where = self._where.get((portal.id, base))
        if where is None:
            where = self._where[(portal.id, base)] = await endpoints(self.accounts, portal, base)
        application_token = await self._application_token(row)
        if not row.user_id:
            return {
                "domain": portal.domain,
                "client_endpoint": where.client_endpoint,
                "server_endpoint": where.server_endpoint,
                "member_id": portal.member_id,
                "application_token": application_token,
            }
        pair = await self._token(row, now)
        auth = token_answer(pair, portal, row.app, where)
        auth["domain"] = portal.domain  # events name the portal, token answers the server
        auth["application_token"] = application_token
        return auth

    async def _portal(self, portal_id: int) -> Portal:
        portal = self._portals.get(portal_id)
        if portal is None:
            portal = await self.accounts.get_portal(portal_id)
            assert portal is not None  # its outbox rows would have cascaded away
            self._portals[portal_id] = portal
        return portal

    async def _application_token(self, row: OutboxRow) -> str:
        key = (row.install_id, row.installation.installed_at)
        found = self._app_tokens.get(key)
        if found is None:
            found = self._app_tokens[key] = await self.apps.application_token(row.install_id) or ""
        return found

    async def _token(self, row: OutboxRow, now: float) -> TokenPair:
        key = (row.install_id, row.installation.installed_at, row.user_id)
        pair = self._tokens.get(key)
        if pair is not None and pair.expires_at - now > TOKEN_REUSE_MARGIN:
            # Still stored (not rotated away by a refresh)? Checked at most once a second.
            seen = self._checked.get(key, 0.0)
            if self.clock.monotonic() - seen < TOKEN_CHECK_SECONDS or (
                await self.apps.grant(hash_secret(pair.access_token)) is not None
            ):
                if self.clock.monotonic() - seen >= TOKEN_CHECK_SECONDS:
                    self._checked[key] = self.clock.monotonic()
                return replace(pair, expires_in=round(pair.expires_at - now))
        access, refresh, stored = fresh_tokens(
            now,
            access_ttl=self.settings.access_token_ttl,
            refresh_ttl=self.settings.refresh_token_ttl,
        )
        await self.apps.issue(row.installation, row.user_id, row.app.scopes, stored, now)
        pair = token_pair(access, refresh, stored, row.user_id, row.app.scopes, now)
        self._tokens[key] = pair
        return pair


def _with(entry: JournalEntry, **changes: Any) -> JournalEntry:
    return replace(entry, **changes)
