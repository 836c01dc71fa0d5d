"""The hook the REST dispatcher calls around each call: faults, limits, portal states.

The dispatcher holds a guard only while something is active (limits on for some
portal, a portal state, a fault); otherwise its ``guard`` is None and a call costs
one attribute check. Before the method lookup and authentication, ``before_auth``
answers for a blocked or closed portal that the Host header names (§3 steps 1 and
3). Then, for a top-level call (after the caller is authenticated, since the
caller, and without a Host naming it the portal, are known only then):

1. injected faults (the operator asked for exactly this answer; they hit each
   command inside ``batch`` too, through ``enter``);
2. the request-rate bucket of portal + caller -> 503 ``QUERY_LIMIT_EXCEEDED``
   (a ``batch`` takes one request);
3. the portal's state (``states.py``);
4. after the scope check, in the dispatcher: the operating-time limit of portal +
   caller + method -> 429 ``OPERATION_TIME_LIMIT`` (``batch`` itself is not
   metered; each sub-call is checked and counted).

The bucket and the operating usage are read in one backend call. The dispatcher
first calls ``check``, which answers without a coroutine when the backend can
decide at once (always in-process; with Redis while the worker's lease and cached
usage last, ``lease.py``), and awaits ``admit`` only otherwise; after the call,
``settle`` gives the figures of a call too fast to count, ``leave`` counts one.
When the backend (Redis) is unreachable the call is served without limits and the
outage is logged once (``redis_fail_closed``: refused with 503
``QUERY_LIMIT_EXCEEDED`` instead).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from trunkline.domain.principal import Principal
from trunkline.errors import QueryLimitExceededError
from trunkline.limits.bucket import STANDARD, Rate
from trunkline.limits.faults import ConnectionDrop, Fault
from trunkline.limits.operating import DEFAULT_LIMIT, EMPTY, THRESHOLD, Usage
from trunkline.limits.shared import BackendUnavailableError
from trunkline.limits.states import PortalState

log = logging.getLogger("trunkline.limits")

UNMETERED_METHODS = frozenset({"batch"})


Caller = tuple[Any, ...]  # (portal, auth type, app or webhook): hashable, cheap


class Backend(Protocol):
    """State of both limiters: a bucket per caller, an operating window per caller and
    method. ``rate`` None: leave the bucket alone (a batch sub-call); ``metered``
    False: no usage wanted (``batch`` itself)."""

    name: str
    shared: bool

    def admit_now(
        self, caller: Caller, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None] | None:
        """The verdict when it can be given without I/O, else None (then ``admit``)."""

    async def admit(
        self, caller: Caller, method: str, rate: Rate | None, metered: bool, now: float
    ) -> tuple[bool, Usage | None]: ...

    async def record(self, caller: Caller, method: str, now: float, seconds: float) -> Usage: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the guard learnt before a call: the operating usage (None: not metered)."""

    usage: Usage | None = None
    blocked: bool = False


UNMETERED = Ticket()
FRESH = Ticket(EMPTY)  # metered, nothing counted yet: the common case, never allocated


class Guard:
    def __init__(
        self,
        backend: Backend,
        *,
        limits: bool = False,
        operating_limit: float = DEFAULT_LIMIT,
        clock: Callable[[], float],
        fail_closed: bool = False,
        consume: Callable[[int], Awaitable[bool]] | None = None,
        host_names: Callable[[str | None], tuple[str, ...]] = lambda host: (),
    ) -> None:
        self.backend = backend
        self.limits = limits  # the global switch (``limits`` setting, ``serve --limits``)
        self.operating_limit = operating_limit
        self.clock = clock
        self.fail_closed = fail_closed
        self.consume = consume  # takes one from a counted fault; False when spent
        self.states: dict[int, PortalState] = {}
        self.faults: tuple[Fault, ...] = ()
        self.early = False  # some portal is blocked or closed (``before_auth``)
        self.by_host: dict[str, PortalState] = {}  # blocked or closed portals by domain
        self.host_names = host_names
        self.backend_ok = True
        self.random = random.random
        self.check: Callable[[str, Principal], Ticket | None] = self._check

    @property
    def active(self) -> bool:
        """Whether the dispatcher needs this guard at all."""
        return bool(
            self.limits
            or self.faults
            or any(s.refuses or s.limits == "on" for s in self.states.values())
        )

    def load(
        self,
        states: dict[int, PortalState],
        faults: tuple[Fault, ...],
        domains: dict[int, str] | None = None,
    ) -> None:
        """``domains``: the domain of each portal whose state is ``early``."""
        self.states = states
        self.faults = faults
        self.check = self._wait if faults else self._check
        self.by_host = {
            domain.lower(): states[portal_id]
            for portal_id, domain in (domains or {}).items()
            if portal_id in states and states[portal_id].early
        }
        self.early = bool(self.by_host)

    def before_auth(self, host: str | None) -> None:
        """Before the method lookup: the error of a blocked or closed portal the Host names."""
        for name in self.host_names(host):
            state = self.by_host.get(name)
            if state is not None:
                state.check_early()

    def _wait(self, method: str, principal: Principal) -> Ticket | None:
        return None  # faults need ``admit``

    def _check(self, method: str, principal: Principal) -> Ticket | None:
        """``admit`` without waiting when nothing needs I/O (no faults); None: await ``admit``.

        Nothing is counted when it answers None, so ``admit`` may run after it.
        """
        portal_id = principal.portal.id
        state = self.states.get(portal_id) if self.states else None
        if state is None:
            if not self.limits:
                return UNMETERED
            rate = STANDARD
        else:
            if not state.limits_on(self.limits):
                if state.refuses:
                    state.check(principal)
                return UNMETERED
            rate = state.rate
        caller = principal.caller_key
        metered = method not in UNMETERED_METHODS
        verdict = self.backend.admit_now(caller, method, rate, metered, self.clock())
        if verdict is None:
            return None
        allowed, usage = verdict
        if not allowed:
            raise QueryLimitExceededError()
        if state is not None and state.refuses:
            state.check(principal)
        if usage is EMPTY:
            return FRESH
        if usage is None:
            return UNMETERED
        return Ticket(usage, usage.seconds > self.operating_limit)

    async def admit(self, method: str, principal: Principal) -> Ticket:
        """Before a top-level call: faults, the request bucket, the portal state."""
        if self.faults:
            await self._faults(principal.portal.id, method)
            ticket = self._check(method, principal)
            if ticket is not None:
                return ticket
        # Without faults the dispatcher has just run ``check``, which needed I/O.
        portal_id = principal.portal.id
        state = self.states.get(portal_id)
        caller = principal.caller_key
        rate = STANDARD if state is None else state.rate
        metered = method not in UNMETERED_METHODS
        ticket = self._ticket(await self._admit(caller, method, rate, metered))
        if state is not None and state.refuses:
            state.check(principal)
        return ticket

    def _ticket(self, verdict: tuple[bool, Usage | None]) -> Ticket:
        allowed, usage = verdict
        if not allowed:
            raise QueryLimitExceededError()
        if usage is None:
            return UNMETERED
        return Ticket(usage, usage.seconds > self.operating_limit)

    async def enter(self, method: str, principal: Principal) -> Ticket:
        """Before a batch sub-call: injected faults for its method, its operating usage.

        A fault's error is the sub-call's, so ``batch`` puts it in ``result_error``
        as a real portal would (a ``drop`` still closes the whole connection).
        """
        portal_id = principal.portal.id
        if self.faults:
            await self._faults(portal_id, method)
        if method in UNMETERED_METHODS or not self._limited(self.states.get(portal_id)):
            return UNMETERED
        caller = principal.caller_key
        verdict = self.backend.admit_now(caller, method, None, True, self.clock())
        if verdict is None:
            verdict = await self._admit(caller, method, None, True)
        return self._ticket(verdict)

    def _limited(self, state: PortalState | None) -> bool:
        return self.limits if state is None else state.limits_on(self.limits)

    def settle(self, ticket: Ticket, seconds: float) -> tuple[float, int | None] | None:
        """After a metered call that does not count (0.1 s or less): the figures to report.

        None when the call counts: then await ``leave``.
        """
        usage = ticket.usage
        if seconds > THRESHOLD or usage is None:
            return None
        return usage.seconds, usage.reset_at

    async def leave(
        self, ticket: Ticket, seconds: float, method: str, principal: Principal
    ) -> tuple[float, int | None]:
        """After a metered call that counts: add its time; (operating, operating_reset_at)."""
        usage = ticket.usage
        assert usage is not None
        if seconds > THRESHOLD:
            caller = principal.caller_key
            try:
                usage = await self.backend.record(caller, method, self.clock(), seconds)
            except BackendUnavailableError as exc:
                self._down(exc)  # the call has run: report what was known before it
        return usage.seconds, usage.reset_at

    async def _admit(
        self, caller: Caller, method: str, rate: Rate | None, metered: bool
    ) -> tuple[bool, Usage | None]:
        try:
            verdict = await self.backend.admit(caller, method, rate, metered, self.clock())
        except BackendUnavailableError as exc:
            self._down(exc)
            if self.fail_closed:
                raise QueryLimitExceededError() from exc
            return True, None
        if not self.backend_ok:
            self.backend_ok = True
            log.warning("limits: %s answers again; limits are enforced", self.backend.name)
        return verdict

    def _down(self, exc: BaseException) -> None:
        if self.backend_ok:
            self.backend_ok = False
            then = "refusing calls (fail-closed)" if self.fail_closed else "serving without limits"
            log.error("limits: %s is unreachable (%s); %s", self.backend.name, exc, then)

    async def _faults(self, portal_id: int, method: str) -> None:
        for fault in self.faults:
            if not fault.matches(portal_id, method):
                continue
            if fault.share is not None and self.random() >= fault.share:
                continue
            if fault.remaining is not None and (
                self.consume is None or not await self.consume(fault.id)
            ):
                self.faults = tuple(f for f in self.faults if f.id != fault.id)  # spent
                continue
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_ms / 1000)
                continue
            if fault.kind == "drop":
                raise ConnectionDrop()
            error = fault.error()
            if error is not None:
                raise error

    async def probe(self) -> None:
        """Ask the backend whether it answers; an outage is logged once (start-up)."""
        try:
            await self.backend.ping()
        except BackendUnavailableError as exc:
            self._down(exc)

    async def health(self) -> dict[str, Any]:
        try:
            await self.backend.ping()
        except BackendUnavailableError:
            self.backend_ok = False
            return {"redis": "unreachable"}
        return {"redis": "ok"}
