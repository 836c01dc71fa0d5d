"""The registrar's decisions on users' phones, and what it tells the history of every
decision (a part of ``engine/registrar.py``'s `RegistrarServer`, kept here for room).

Rules:

* A phone's decision is taken from its accounts and bindings (``engine/phones.py``): read
  through the book's coroutines (the database when they are not kept, under the
  registrar's lock), or, when the book keeps both and nothing else holds or waits for the
  lock, from memory at once (`_phone_now`: no lock, no coroutine, nothing that can wait,
  so nothing can interleave). Either way the same `_phone_decision` decides, from the same
  account and bindings: the two give the same answer, bindings, history and counts
  (tests/engine/test_phone_fast_path.py).
* The history hook gets the subject, its bindings before, whether one lives after, whether
  the digest was refused, and the exchange (request, answer, transport, the local address
  and the source), which it reads only when the state changed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence

from trunkline.domain.lines import OfficeBinding
from trunkline.engine.bindings import to_sip, to_stored
from trunkline.engine.phones import PhoneBook
from trunkline.metrics import families
from trunkline.sip.message import Request
from trunkline.sip.registrar import Account, Binding, Registrar, RegistrarDecision, Source
from trunkline.storage.registrations import RegistrationStore
from trunkline.storage.telephony import PhoneAccount

__all__ = ["PhoneDecisions", "count"]

Decided = tuple[RegistrarDecision, asyncio.Future[None] | None]  # and the commit to wait for


class PhoneDecisions:
    """`RegistrarServer`'s decisions on users' phones (see the rules above)."""

    registrations: RegistrationStore
    book: PhoneBook | None
    algorithm: str
    stats: Counter[str]
    addresses: dict[str, tuple[str, int]]
    on_decision: Callable[..., None] | None
    _wall: Callable[[], float]
    _lock: asyncio.Lock

    def _idle(self) -> bool:
        """Nothing holds the lock or waits for it (asyncio.Lock's own test of a free lock)."""
        lock = self._lock
        return not lock.locked() and not lock._waiters

    async def _office(
        self, request: Request, source: Source, registrar: Registrar, login: str
    ) -> RegistrarDecision:
        """An office PBX's REGISTER: the line whose INCOMING_LOGIN is the login."""
        found = await self.registrations.office_lines(login, registrar.config.realm)
        if len(found) > 1:  # the same login in several portals at one address
            accounts = [Account(f[0].incoming_login or "", f[0].incoming_password) for f in found]
            chosen = registrar.pick(request, accounts)
            found = [] if chosen is None else [found[chosen]]
        line, opted = found[0] if found else (None, "MD5")
        account: Account | None = None
        bindings: list[Binding] = []
        stored: list[OfficeBinding] = []
        if line is not None and line.incoming_login and line.incoming_password:
            algorithm = opted if opted != "MD5" else self.algorithm
            account = Account(line.incoming_login, line.incoming_password, algorithm=algorithm)
            stored = await self.registrations.bindings(line.portal_id, line.config_id)
            bindings = [to_sip(b) for b in stored]
        now = self._wall()
        decision = registrar.handle(request, source, account, bindings, now)
        if line is not None and (decision.upserts or decision.removals):
            written = await self.registrations.apply_bindings(
                line.portal_id,
                line.config_id,
                [to_stored(b, now) for b in decision.upserts],
                list(decision.removals),
            )
            self.stats["bound" if written else "fenced"] += 1
        if line is not None and account is not None:
            subject = ("office", line.portal_id, line.config_id)
            self._decided(subject, stored, decision, request, source, now)
        return decision

    def _phone_now(
        self, request: Request, source: Source, registrar: Registrar, login: str, user_id: int
    ) -> Decided | None:
        """`_phone` from memory, at once; None when it would read the database."""
        book = self.book
        assert book is not None
        found: Sequence[PhoneAccount] | None = book.kept(user_id)
        if found is None:
            return None
        found = _chosen(request, registrar, login, found)
        stored: tuple[OfficeBinding, ...] = ()
        if found and found[0][2]:
            kept = book.kept_bindings(found[0][0], user_id)
            if kept is None:
                return None
            stored = kept
        return self._phone_decision(request, source, registrar, login, user_id, found, stored)

    async def _phone(
        self, request: Request, source: Source, registrar: Registrar, login: str, user_id: int
    ) -> Decided:
        """A user's phone: ``phone<USER_ID>`` with the user's SIP_PASSWORD, while enabled;
        with the commit to wait for before answering (engine/phones.py), if any."""
        assert self.book is not None
        found = await self.book.accounts(user_id)
        found = _chosen(request, registrar, login, found)
        stored: tuple[OfficeBinding, ...] = ()
        if found and found[0][2]:
            stored = await self.book.bindings(found[0][0], user_id)
        return self._phone_decision(request, source, registrar, login, user_id, found, stored)

    def _phone_decision(
        self,
        request: Request,
        source: Source,
        registrar: Registrar,
        login: str,
        user_id: int,
        found: Sequence[PhoneAccount],
        stored: tuple[OfficeBinding, ...],
    ) -> Decided:
        assert self.book is not None
        account: Account | None = None
        portal_id = found[0][0] if found else 0
        if found and found[0][2]:
            account = Account(login, found[0][2], algorithm=self.algorithm)
        now = self._wall()
        decision = registrar.handle(request, source, account, [to_sip(b) for b in stored], now)
        written = None
        if account is not None and (decision.upserts or decision.removals):
            upserts = [to_stored(b, now) for b in decision.upserts]
            written = self.book.write((portal_id, user_id), stored, upserts, decision.removals)
            self.stats["phones_bound"] += 1
        if account is not None:
            self._decided(("phone", portal_id, user_id), stored, decision, request, source, now)
        return decision, written

    def _decided(
        self,
        subject: tuple[str, int, int],
        stored: Sequence[OfficeBinding],
        decision: RegistrarDecision,
        request: Request,
        source: Source,
        now: float,
    ) -> None:
        """Hand a decision on a line or phone to the history (engine/history.py)."""
        if self.on_decision is None:
            return
        removals = decision.removals  # a binding lives after it: added, or kept and live
        live = bool(decision.upserts) or any(
            b.expires_at > now and b.contact not in removals for b in stored
        )
        local = self.addresses.get(source.transport, ("0.0.0.0", 0))
        exchange = (request, decision.response, source.transport, local, source)
        self.on_decision(subject, stored, live, decision.auth_failed, exchange, now)


def _chosen(
    request: Request, registrar: Registrar, login: str, found: Sequence[PhoneAccount]
) -> Sequence[PhoneAccount]:
    """The one account of a user id kept in several portals that the credentials answer
    (none when not exactly one does); `found` itself when it has at most one."""
    if len(found) <= 1:
        return found
    chosen = registrar.pick(request, [Account(login, f[2]) for f in found])
    return [] if chosen is None else [found[chosen]]


def count(decision: RegistrarDecision) -> RegistrarDecision:
    """Count a decision's challenge or refusal (metrics/families.py)."""
    code = decision.response.status_code if decision.response is not None else 0
    if code == 401:
        families.registrar_challenges.inc()
    elif decision.auth_failed:
        families.registrar_refusals.labels("auth").inc()
    elif code >= 400:
        families.registrar_refusals.labels("error").inc()
    return decision
