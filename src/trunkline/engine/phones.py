"""Users' phones at the registrar: their accounts and bindings kept in memory, their binding
writes batched.

Rules:

* A phone's accounts (``phone_accounts``: portal, user and SIP password of every enabled
  phone of an active user with that USER_ID) and its bindings (read with the accounts, in
  one query: ``phone_book``) are kept while the driver's change mark stands
  (storage/changes.py). The mark is read for every REGISTER with credentials, before the
  cache: a write to users or user_phones by this process or another
  (a new password, a deactivated phone or user), any commit of another process on SQLite,
  and on PostgreSQL a commit by anyone to users, user_phones or phone_bindings (the
  ``accounts`` and ``phones`` counters, storage/mark_schema.py) move it, and both caches
  are then emptied, so such a change is seen by the next REGISTER. On SQLite this
  process's own phone binding and history writes do not move it: they are the
  registrar's own, and it keeps the cache in step with them. On PostgreSQL its binding
  batches do (the counter cannot tell whose commit it was), so another node's bindings
  are never served stale.
* Binding changes are queued per phone and contact and written together, in one
  transaction. A REGISTER that adds or removes a binding, or changes where one points (its
  received address, transport, user agent, instance or reg-id), is answered once its batch
  is committed: such a batch is written `WRITE_WINDOW` seconds after its first change of
  that kind, or when `start` is called: the registrar calls it at the end of each UDP
  read, so the REGISTERs read in one wake-up are answered in that wake-up, not in another.
  A refresh of an unchanged binding (only expiry, Call-ID and CSeq move) is answered at
  once and reaches the database with its batch, which then waits up to `REFRESH_WINDOW`
  seconds (`start` leaves it) unless a change that must be committed joins it: a crash in
  between leaves the binding with the expiry it had. (One commit a second rather than one
  a wake-up for a registrar's steady refreshes: every commit writes its pages to the WAL
  again, and takes the database's locks.) Past `MAX_BATCH` phones a batch is written at
  once.
* Until it is written, a queued change is what the cache says for its phone, whatever
  happens to the cache: a phone with queued changes is never read from the database.
* A batch that fails is logged; the caches are emptied (the database is read again) and its
  waiting REGISTERs are not answered (their phones retransmit).
* `flush` writes the queue at once (the sweep calls it before deleting expired bindings,
  then `swept`, which drops from memory just what the DELETE removed: a sweep leaves every
  live phone's bindings kept, so its next refresh is still decided from memory).
* At most `MAX_CACHED` phones' accounts are kept; past that the caches are emptied (a
  phone's bindings are cached only after its accounts were, so they are bounded too).
* Compact, as a registrar keeps one entry per phone: a phone's accounts are a tuple whose
  user ids are the cache key's int (not a list and an int from each row), and bindings are
  kept in one dict per portal, by user id (not under a (portal, user) tuple a phone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from trunkline.domain.lines import OfficeBinding
from trunkline.storage.telephony import PhoneAccount, PhoneChanges, TelephonyRepository

__all__ = ["PhoneBook"]

log = logging.getLogger("trunkline.engine.registrar")

WRITE_WINDOW = 0.02
REFRESH_WINDOW = 1.0  # a batch of refreshes alone (see the rules above)
MAX_BATCH = 256
MAX_CACHED = 100_000

Subject = tuple[int, int]  # (portal_id, user_id)


def _moved(old: OfficeBinding, new: OfficeBinding) -> bool:
    """True when `new` is more than a refresh of `old` (see the rules above)."""
    return (
        old.received_host != new.received_host
        or old.received_port != new.received_port
        or old.transport != new.transport
        or old.user_agent != new.user_agent
        or old.instance_id != new.instance_id
        or old.reg_id != new.reg_id
    )


class PhoneBook:
    """The registrar's view of users' phones (see the rules above)."""

    def __init__(self, repository: TelephonyRepository) -> None:
        self.repository = repository
        self._mark: object = None
        self._accounts: dict[int, tuple[PhoneAccount, ...]] = {}
        self._bindings: dict[int, dict[int, tuple[OfficeBinding, ...]]] = {}  # portal, user
        self._queued: dict[Subject, PhoneChanges] = {}
        self._refreshed: set[tuple[int, int, str]] = set()  # queued contacts kept before
        self._batch: asyncio.Future[None] | None = None
        self._durable = False  # the queued batch holds a change answered after its commit
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._inflight: dict[Subject, PhoneChanges] = {}  # the batch being written
        self.batches = 0  # batches written (tests, describe)

    async def _check(self) -> None:
        driver = self.repository.driver
        mark = driver.change_mark()
        if mark is None:  # PostgreSQL: the counters of users and of phones, read once a call
            mark = (await driver.shared_change_mark(), await driver.shared_data_mark("phones"))
        self._checked(mark)

    def _checked(self, mark: object) -> None:
        if mark != self._mark or len(self._accounts) > MAX_CACHED:
            self._accounts.clear()
            self._bindings.clear()
            self._mark = mark

    def kept(self, user_id: int) -> tuple[PhoneAccount, ...] | None:
        """``accounts(user_id)`` when memory answers it with no wait (the mark checked as
        `accounts` checks it); None when that takes the database: not kept, or the mark is
        PostgreSQL's counters (a query). A phone not kept is left to `accounts`, which
        reads the mark (once, not here too)."""
        if user_id not in self._accounts:
            return None
        mark = self.repository.driver.change_mark()
        if mark is None:
            return None
        self._checked(mark)
        return self._accounts.get(user_id)

    def kept_bindings(self, portal_id: int, user_id: int) -> tuple[OfficeBinding, ...] | None:
        """``bindings(portal_id, user_id)`` when kept in memory, else None."""
        portal = self._bindings.get(portal_id)
        return None if portal is None else portal.get(user_id)

    async def accounts(self, user_id: int) -> Sequence[PhoneAccount]:
        """``phone_accounts(user_id)``, from memory while the change mark stands."""
        await self._check()
        found = self._accounts.get(user_id)
        if found is None:  # and the bindings of its phones, in the same query
            mark = self._mark
            rows = await self.repository.phone_book(user_id)
            found = tuple((portal_id, user_id, password) for (portal_id, _, password), _ in rows)
            if mark == self._mark:
                self._accounts[user_id] = found
                for (portal_id, _, _), stored in rows:
                    portal = self._bindings.setdefault(portal_id, {})
                    if user_id not in portal:
                        portal[user_id] = self._pending((portal_id, user_id), tuple(stored))
        return found

    async def bindings(self, portal_id: int, user_id: int) -> tuple[OfficeBinding, ...]:
        """Every stored binding of a phone (expired ones too, until the sweep)."""
        portal = self._bindings.get(portal_id)
        found = None if portal is None else portal.get(user_id)
        if found is None:
            mark = self._mark
            found = tuple(await self.repository.bindings(portal_id, user_id))
            found = self._pending((portal_id, user_id), found)
            if mark == self._mark:
                self._bindings.setdefault(portal_id, {})[user_id] = found
        return found

    def _pending(
        self, subject: Subject, stored: tuple[OfficeBinding, ...]
    ) -> tuple[OfficeBinding, ...]:
        """A phone's bindings as read from the database, with its changes not written yet."""
        for pending in (self._inflight, self._queued):
            changes = pending.get(subject)
            if changes is not None:
                stored = _applied(stored, changes)
        return stored

    def forget_bindings(self) -> None:
        self._bindings.clear()

    def swept(self, now: float) -> None:
        """The sweep deleted the stored bindings that ``expires_at <= now`` (the predicate
        of `TelephonyRepository.delete_expired`, on the same float): drop those from memory
        too, and keep the rest. A phone with changes queued or being written whose kept
        bindings hold an expired one is forgotten instead (read again): whether that
        binding's write came before or after the DELETE decides what is stored."""
        for portal_id, phones in self._bindings.items():
            for user_id, bindings in list(phones.items()):
                if all(b.expires_at > now for b in bindings):
                    continue
                subject = (portal_id, user_id)
                if subject in self._queued or subject in self._inflight:
                    del phones[user_id]
                else:
                    phones[user_id] = tuple(b for b in bindings if b.expires_at > now)

    def write(
        self,
        subject: Subject,
        before: tuple[OfficeBinding, ...],
        upserts: list[OfficeBinding],
        removals: tuple[str, ...],
    ) -> asyncio.Future[None] | None:
        """Queue a decision's changes; the future of their batch's commit when the answer
        must wait for it, None for a refresh of unchanged bindings."""
        changes = self._queued.get(subject)
        if changes is None:
            changes = self._queued[subject] = {}
        durable = bool(removals)
        for contact in removals:
            changes[contact] = None
        for binding in upserts:
            changes[binding.contact] = binding
            for previous in before:  # one a contact
                if previous.contact == binding.contact:
                    self._refreshed.add((*subject, binding.contact))  # its row: UPDATE
                    if not durable:  # moved from its binding before
                        durable = _moved(previous, binding)
                    break
            else:
                durable = True  # new
        self._bindings.setdefault(subject[0], {})[subject[1]] = _applied(before, changes)
        batch = self._batch
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._batch = loop.create_future()
            self._durable = durable
            window = WRITE_WINDOW if durable else REFRESH_WINDOW
            self._timer = loop.call_later(window, self._start)
        elif len(self._queued) >= MAX_BATCH:
            self._start()
        elif durable and not self._durable:  # refreshes so far: now a REGISTER waits
            self._durable = True
            if self._timer is not None:  # (None: already being started)
                self._timer.cancel()
                self._timer = asyncio.get_running_loop().call_later(WRITE_WINDOW, self._start)
        return batch if durable else None

    def start(self) -> None:
        """Write the queued changes now if a REGISTER waits for them (the registrar, at
        the end of a UDP read); a batch of refreshes alone waits for its timer."""
        if self._batch is not None and self._durable:
            self._start()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is None and self._batch is not None:
            self._writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        try:
            while self._batch is not None:
                batch, queued, refreshed = self._batch, self._queued, self._refreshed
                self._batch, self._queued, self._durable = None, {}, False
                self._refreshed = set()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._inflight = queued
                try:
                    await self.repository.write_bindings(queued, refreshed)
                except Exception as exc:
                    log.exception("could not write %d phones' bindings", len(queued))
                    self._accounts.clear()
                    self._bindings.clear()
                    self._mark = None
                    batch.set_exception(exc)
                    batch.exception()  # retrieved: the waiting REGISTERs log nothing more
                else:
                    self.batches += 1
                    batch.set_result(None)
                finally:
                    self._inflight = {}
        finally:
            self._writing = None

    async def flush(self) -> None:
        """Write every queued change now."""
        if self._batch is not None or self._writing is not None:
            self._start()
            writing = self._writing
            if writing is not None:
                await asyncio.shield(writing)


def _applied(
    bindings: tuple[OfficeBinding, ...], changes: PhoneChanges
) -> tuple[OfficeBinding, ...]:
    """`bindings` with `changes` (contact -> binding or None) applied, by contact."""
    kept = {b.contact: b for b in bindings}
    for contact, binding in changes.items():
        if binding is None:
            kept.pop(contact, None)
        else:
            kept[contact] = binding
    if len(kept) < 2:  # a phone's usual one binding: nothing to sort
        return tuple(kept.values())
    return tuple(sorted(kept.values(), key=lambda b: b.contact))
