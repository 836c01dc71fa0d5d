"""The call pipeline (``rest-protocol.md`` §3), independent of HTTP.

Order, which decides which error wins:

1. the method is looked up (lower-cased): unknown -> 404 ``ERROR_METHOD_NOT_FOUND``,
   before any authentication (but after a manual block or a closed portal that
   the Host header names, §3: ``Guard.before_auth``);
2. the caller is authenticated (webhook or OAuth token);
3. the method's scope must be granted -> ``insufficient_scope``;
4. ``start`` is taken out of the parameters (``intval``);
5. the right the method declares (``Method.right``: "Manage numbers - modify" for
   ``voximplant.sip.*``) must be held by the calling user -> 403 ``ACCESS_DENIED``.
   This is the one permission check of a call, made before the handler reads any
   parameter, so a caller without the right never learns what was wrong with them;
6. the handler runs;
7. the success envelope gets ``result``, ``total``/``next`` for list methods and
   the ``time`` block.

Inside ``batch`` the same pipeline runs per command, except that the caller is
the batch's own and the scope error has an empty description.

Limits, portal states and injected faults (``trunkline.limits``) hook in through
the guard, which the control plane (``web/control.py``) hands over with
:meth:`Dispatcher.use_guard` only while any of them is active: right after
authentication (``admit``: faults, the request bucket, the portal state), and
around each handler (the operating-time limit, 429 after the scope check;
``time.operating`` and ``time.operating_reset_at``). With no guard a call pays one
``is None`` check. Every time read is the application clock's (``domain/clock.py``).

Observers (the request journal, the access log, metrics) see every call once it is
answered, through :meth:`Dispatcher.observe`: one :class:`CallRecord` per top-level call
and one per ``batch`` command (``batch=True``; the batch call itself is recorded too).
An observer must not block or raise; with none registered a call pays one truthiness
check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from trunkline.domain.clock import Clock
from trunkline.domain.php import intval
from trunkline.domain.principal import WEBHOOK, Credentials, Principal
from trunkline.errors import (
    AccessDeniedError,
    InsufficientScopeError,
    MethodNotFoundError,
    OperationTimeLimitError,
)
from trunkline.rest.record import CallObserver, CallRecord
from trunkline.rest.registry import Call, Method, Registry, Result
from trunkline.rest.responses import error_status, time_block
from trunkline.services.bundle import Services

Authenticate = Callable[[Credentials], Awaitable[Principal]]

log = logging.getLogger("trunkline.rest")


class Trace:
    """Filled in by :meth:`Dispatcher.handle` for the observers: who the caller was."""

    __slots__ = ("principal",)

    def __init__(self) -> None:
        self.principal: Principal | None = None


class Ticket(Protocol):
    usage: Any  # None: the call is not metered
    blocked: bool


class Guard(Protocol):
    """``trunkline.limits.guard.Guard``, as the dispatcher sees it."""

    early: bool  # some portal is blocked or closed: see ``before_auth``

    def before_auth(self, host: str | None) -> None: ...

    def check(self, method: str, principal: Principal) -> Any: ...

    async def admit(self, method: str, principal: Principal) -> Any: ...

    async def enter(self, method: str, principal: Principal) -> Any: ...

    def settle(self, ticket: Any, seconds: float) -> tuple[float, int | None] | None: ...

    async def leave(
        self, ticket: Any, seconds: float, method: str, principal: Principal
    ) -> tuple[float, int | None]: ...


# Parameters the server consumes before a handler sees them (§1).
RESERVED = ("auth", "access_token", "auth_connector", "aplogin", "ap", "state", "token")

_SCOPE_TEXT = {
    WEBHOOK: "The request requires higher privileges than provided by the webhook token",
}
_OAUTH_SCOPE_TEXT = "The request requires higher privileges than provided by the access token"


def strip_reserved(params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Remove the reserved parameters; return the rest and the ``start`` offset."""
    start = intval(params["start"]) if "start" in params else 0
    if any(key in params for key in RESERVED) or "start" in params:
        params = {k: v for k, v in params.items() if k not in RESERVED and k != "start"}
    return params, start


class Dispatcher:
    def __init__(
        self, registry: Registry, authenticate: Authenticate, services: Services, clock: Clock
    ) -> None:
        self.registry = registry
        self.authenticate = authenticate
        self.services = services
        self.clock = clock
        self._guard: Guard | None = None
        self.observers: list[CallObserver] = []

    def observe(self, record: CallRecord) -> None:
        """Hand ``record`` to every observer; one that raises is logged, not the caller's
        problem."""
        for observer in self.observers:
            try:
                observer(record)
            except Exception:
                log.exception("call observer %r failed", observer)

    @property
    def guard(self) -> Guard | None:
        """The guard consulted around every call (None: nothing is active)."""
        return self._guard

    def use_guard(self, guard: Guard | None) -> None:
        """Consult ``guard`` around every call from now on (None: nothing is active)."""
        self._guard = guard

    def lookup(self, name: str) -> Method:
        """A top-level call's method. While some portal is blocked or closed an unknown
        name gets a stand-in that ``handle`` answers with 404 after the portal's
        state (§3: a manual block and a closed portal come before the lookup)."""
        method = self.registry.get(name)
        if method is None:
            if self._guard is not None and self._guard.early:
                return Method(name, _not_found, None, batchable=False)
            raise MethodNotFoundError()
        return method

    def command(self, name: str) -> Method:
        """A batch command's method (404 when unknown)."""
        method = self.registry.get(name)
        if method is None:
            raise MethodNotFoundError()
        return method

    async def handle(
        self,
        method: Method,
        params: dict[str, Any],
        creds: Credentials,
        started: float,
        trace: Trace | None = None,
    ) -> dict[str, Any]:
        """Authenticate and run one top-level call; returns the success envelope.
        ``trace``, when given, learns the principal once it is known."""
        guard = self._guard
        if guard is not None and guard.early:
            guard.before_auth(creds.host)  # the Host names a blocked or closed portal
        if method.handler is _not_found:
            raise MethodNotFoundError()
        principal = await self.authenticate(creds)
        if trace is not None:
            trace.principal = principal
        ticket = None
        if guard is not None:  # check: no coroutine when nothing needs I/O
            ticket = guard.check(method.name, principal)
            if ticket is None:
                ticket = await guard.admit(method.name, principal)
        if not principal.has_scope(method.scope):
            text = _SCOPE_TEXT.get(principal.auth_type, _OAUTH_SCOPE_TEXT)
            raise InsufficientScopeError(text)
        base = f"{'https' if creds.secure else 'http'}://{creds.host}" if creds.host else ""
        result, timing = await self.run(
            method, params, principal, depth=0, started=started, ticket=ticket, base_url=base
        )
        return envelope(result, timing)

    async def run(
        self,
        method: Method,
        params: dict[str, Any],
        principal: Principal,
        *,
        depth: int,
        started: float | None = None,
        ticket: Ticket | None = None,
        base_url: str = "",
    ) -> tuple[Result, dict[str, Any]]:
        """Run a handler whose caller is already authenticated and scoped."""
        params, start = strip_reserved(params)
        guard = self._guard
        if guard is not None:
            if ticket is None:
                ticket = await guard.enter(method.name, principal)
            if ticket.blocked:
                raise OperationTimeLimitError()
        if method.right is not None and not principal.has_right(method.right):
            raise AccessDeniedError()
        begin = self.clock.now()
        call = Call(method.name, params, principal, start, self.services, self, depth, base_url)
        result = await method.handler(call)
        end = self.clock.now()
        operating: float = 0
        reset_at = None
        if guard is not None and ticket is not None and ticket.usage is not None:
            figures = guard.settle(ticket, end - begin)
            if figures is None:
                figures = await guard.leave(ticket, end - begin, method.name, principal)
            operating, reset_at = figures
        timing = time_block(
            start=begin if started is None else started,
            finish=end,
            method_start=begin,
            method_end=end,
            timezone=principal.portal.timezone,
            operating=operating,
            operating_reset_at=reset_at,
        )
        return result, timing

    async def run_in_batch(
        self, name: str, params: dict[str, Any], principal: Principal
    ) -> tuple[Result, dict[str, Any]]:
        if not self.observers:
            return await self._run_in_batch(name, params, principal)
        begin = self.clock.monotonic()
        status, code = 200, None
        try:
            return await self._run_in_batch(name, params, principal)
        except Exception as exc:
            status, code = error_status(exc)
            raise
        finally:
            seconds = self.clock.monotonic() - begin
            self.observe(
                CallRecord(name.lower(), params, principal, None, status, code, seconds, True)
            )

    async def _run_in_batch(
        self, name: str, params: dict[str, Any], principal: Principal
    ) -> tuple[Result, dict[str, Any]]:
        method = self.command(name)
        if not principal.has_scope(method.scope):
            raise InsufficientScopeError("")
        return await self.run(method, params, principal, depth=1)


async def _not_found(call: Call) -> Result:
    raise MethodNotFoundError()


def envelope(result: Result, timing: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"result": result.result}
    if result.next is not None:
        body["next"] = result.next
    if result.total is not None:
        body["total"] = result.total
    body["time"] = timing
    return body
