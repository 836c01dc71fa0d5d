"""The hook the REST dispatcher calls around each call: faults, limits, portal states.

The dispatcher holds a guard only while something is active (limits on for some
portal, a portal state, a fault); otherwise its ``guard`` is None and a call costs
one attribute check. Order for a top-level call (``rest-protocol.md`` §3, after
the caller is authenticated, since the portal and the caller are known only then):

1. injected faults (the operator asked for exactly this answer);
2. the request-rate bucket of portal + caller -> 503 ``QUERY_LIMIT_EXCEEDED``
   (a ``batch`` takes one request);
3. the portal's state (``states.py``);
4. after the scope check, in the dispatcher: the operating-time limit of portal +
   caller + method -> 429 ``OPERATION_TIME_LIMIT`` (``batch`` itself is not
   metered; each sub-call is checked and counted).

The bucket and the operating usage are read in one backend call. When the backend
(Redis) is unreachable the call is served without limits and the outage is logged
once (``redis_fail_closed``: refused with 503 ``QUERY_LIMIT_EXCEEDED`` instead).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from trunkline.auth.principal import Principal
from trunkline.errors import QueryLimitExceededError
from trunkline.limits.bucket import STANDARD, Rate
from trunkline.limits.faults import ConnectionDrop, Fault
from trunkline.limits.operating import DEFAULT_LIMIT, Usage
from trunkline.limits.shared import BackendUnavailable
from trunkline.limits.states import PortalState

log = logging.getLogger("trunkline.limits")

UNMETERED_METHODS = frozenset({"batch"})


class Backend(Protocol):
    name: str
    shared: bool

    async def admit(
        self, rate_key: str | None, rate: Rate | None, op_key: str | None, now: float
    ) -> tuple[bool, Usage | None]: ...

    async def record(self, op_key: str, now: float, seconds: float) -> Usage: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Ticket:
    """What the guard learnt before a call: its operating key and usage."""

    op_key: str | None = None
    usage: Usage | None = None
    blocked: bool = False


UNMETERED = Ticket()


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
    ) -> None:
        self.backend = backend
        self.limits = limits  # the global switch (``limits`` setting, ``serve --limits``)
        self.operating_limit = operating_limit
        self.clock = clock
        self.fail_closed = fail_closed
        self.consume = consume  # takes one from a counted fault; False when spent
        self.states: dict[int, PortalState] = {}
        self.faults: tuple[Fault, ...] = ()
        self.backend_ok = True
        self.random = random.random

    @property
    def active(self) -> bool:
        """Whether the dispatcher needs this guard at all."""
        return bool(
            self.limits
            or self.faults
            or any(s.refuses or s.limits == "on" for s in self.states.values())
        )

    def load(self, states: dict[int, PortalState], faults: tuple[Fault, ...]) -> None:
        self.states = states
        self.faults = faults

    def _limited(self, state: PortalState | None) -> bool:
        return self.limits if state is None else state.limits_on(self.limits)

    async def admit(self, method: str, principal: Principal) -> Ticket:
        """Before a top-level call: faults, the request bucket, the portal state."""
        portal_id = principal.portal.id
        if self.faults:
            await self._faults(portal_id, method)
        state = self.states.get(portal_id)
        ticket = UNMETERED
        if self._limited(state):
            caller = f"{portal_id}:{principal.caller_key}"
            op_key = None if method in UNMETERED_METHODS else f"{caller}:{method}"
            rate = STANDARD if state is None else state.rate
            allowed, usage = await self._admit(caller, rate, op_key)
            if not allowed:
                raise QueryLimitExceededError()
            if op_key is not None and usage is not None:
                ticket = Ticket(op_key, usage, usage.blocked(self.operating_limit))
        if state is not None and state.refuses:
            state.check(principal)
        return ticket

    async def enter(self, method: str, principal: Principal) -> Ticket:
        """Before a batch sub-call: its operating usage only."""
        portal_id = principal.portal.id
        if method in UNMETERED_METHODS or not self._limited(self.states.get(portal_id)):
            return UNMETERED
        op_key = f"{portal_id}:{principal.caller_key}:{method}"
        _, usage = await self._admit(None, None, op_key)
        if usage is None:
            return UNMETERED
        return Ticket(op_key, usage, usage.blocked(self.operating_limit))

    async def leave(self, ticket: Ticket, seconds: float) -> tuple[float, int | None]:
        """After a metered call: count its time; (operating, operating_reset_at)."""
        usage = ticket.usage
        assert ticket.op_key is not None and usage is not None
        if seconds > 0.1:
            try:
                usage = await self.backend.record(ticket.op_key, self.clock(), seconds)
            except BackendUnavailable as exc:
                self._down(exc)  # the call has run: report what was known before it
        return usage.seconds, usage.reset_at

    async def _admit(
        self, rate_key: str | None, rate: Rate | None, op_key: str | None
    ) -> tuple[bool, Usage | None]:
        try:
            verdict = await self.backend.admit(rate_key, rate, op_key, self.clock())
        except BackendUnavailable as exc:
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

    async def health(self) -> dict[str, Any]:
        try:
            await self.backend.ping()
        except BackendUnavailable:
            self.backend_ok = False
            return {"redis": "unreachable"}
        return {"redis": "ok"}
