"""Operator controls: portal states, injected faults, and the limits of one worker.

:class:`ControlService` is what the CLI (``trunkline portal state``, ``trunkline
fault``) and the operator endpoints (``trunkline.operator``) call; it validates and
writes to the database, which every worker shares.

:class:`ControlPlane` runs inside each worker: it builds the limiter backend
(in-process, or Redis when ``redis_url`` is set) and the guard, rereads states
and faults every ``control_poll_ms``, and gives the dispatcher the guard only
while something is active, so that a server with nothing switched on pays one
``is None`` check per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from trunkline.auth.hosts import host_names
from trunkline.domain.portals import Portal
from trunkline.limits.faults import Fault, FaultError, validate
from trunkline.limits.guard import Backend, Guard
from trunkline.limits.memory import MemoryBackend
from trunkline.limits.shared import BackendUnavailable, redis_backend
from trunkline.limits.states import PortalState, changed
from trunkline.rest.dispatch import Dispatcher
from trunkline.settings import Settings
from trunkline.storage.control import ControlRepository
from trunkline.storage.store import Store

log = logging.getLogger("trunkline.limits")


class ControlService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.repo = ControlRepository(store)

    async def portal(self, domain: str | None) -> Portal | None:
        if domain is None:
            return None
        portal = await self.store.portal_by_domain(domain)
        if portal is None:
            raise FaultError(f"no portal {domain!r}")
        return portal

    async def state(self, portal: Portal) -> PortalState:
        return await self.repo.state(portal.id)

    async def set_state(self, portal: Portal, **changes: Any) -> PortalState:
        """Apply an operator's changes (``states.changed``; StateError when invalid)."""
        state = changed(await self.repo.state(portal.id), **changes)
        await self.repo.save_state(state)
        return state

    async def add_fault(
        self,
        *,
        kind: Any,
        method: Any = None,
        portal: Any = None,
        count: Any = None,
        share: Any = None,
        latency_ms: Any = None,
        known_methods: Iterable[str] = (),
    ) -> Fault:
        """Validate and store a fault (FaultError when invalid)."""
        fault = validate(kind=kind, method=method, count=count, share=share, latency_ms=latency_ms)
        known = set(known_methods)
        if fault.method is not None and known and fault.method not in known:
            raise FaultError(f"unknown method {fault.method!r}")
        if portal is not None and not isinstance(portal, str):
            raise FaultError(f"portal must be a portal domain, got {portal!r}")
        target = await self.portal(portal or None)
        stored = Fault(
            0,
            fault.kind,
            None if target is None else target.id,
            fault.method,
            fault.remaining,
            fault.share,
            fault.latency_ms,
        )
        return await self.repo.add_fault(stored)

    async def faults(self) -> list[Fault]:
        return await self.repo.faults(live_only=False)

    async def clear_faults(self, fault_id: int | None = None) -> int:
        return await self.repo.clear_faults(fault_id)


def limits_summary(settings: Settings) -> list[str]:
    """What the start-up output says about limits (``trunkline serve``)."""
    where = (
        f"Redis {redis_redacted(settings.redis_url)} (shared by every worker)"
        if settings.redis_url
        else "in-process"
        + (
            f" (each of the {settings.workers} workers keeps its own budget; "
            "set --redis-url to share one)"
            if settings.workers > 1
            else ""
        )
    )
    if settings.limits:
        head = (
            "limits: on for every portal: 50 requests then 2/s per portal and app or webhook "
            f"(Enterprise plan: 250, 5/s); {settings.operating_limit_seconds} s operating "
            "time per method in 10 minutes"
        )
    else:
        head = "limits: off (on for portals set with `trunkline portal state --limits on`)"
    return [head, f"limit state: {where}"]


def redis_redacted(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"


def build_backend(settings: Settings, clock: Callable[[], float]) -> Backend:
    if settings.redis_url:
        return redis_backend(settings.redis_url, prefix=settings.redis_prefix, clock=clock)
    return MemoryBackend()


class ControlPlane:
    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.store = store
        self.repo = ControlRepository(store)
        self.backend = build_backend(settings, clock)
        self.guard = Guard(
            self.backend,
            limits=settings.limits,
            operating_limit=float(settings.operating_limit_seconds),
            clock=clock,
            fail_closed=settings.redis_fail_closed,
            consume=self.repo.consume,
            host_names=host_names,
        )
        self.dispatcher: Dispatcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        if self.settings.redis_url:
            try:
                await self.backend.ping()
            except BackendUnavailable as exc:
                self.guard._down(exc)
        await self.refresh()
        if self.settings.control_poll_ms > 0:
            self._task = asyncio.create_task(self._poll(), name="trunkline control poll")

    async def refresh(self) -> None:
        """Reread states and faults; hand the dispatcher the guard if it is needed."""
        states = await self.repo.states()
        faults = tuple(await self.repo.faults())
        domains = {}
        for portal_id, state in states.items():  # rare: a blocked or closed portal
            if state.early and (portal := await self.store.get_portal(portal_id)) is not None:
                domains[portal_id] = portal.domain
        self.guard.load(states, faults, domains)
        if self.dispatcher is not None:
            self.dispatcher.guard = self.guard if self.guard.active else None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.control_poll_ms / 1000)
            try:
                await self.refresh()
            except Exception:  # the database is away: keep the last snapshot
                log.warning("could not reread portal states and faults", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.backend.close()

    async def health(self) -> dict[str, Any]:
        """The limits part of ``/health``: the global switch and Redis reachability."""
        report: dict[str, Any] = {"limits": "on" if self.settings.limits else "off"}
        report["limit_state"] = "redis" if self.settings.redis_url else "in-process"
        if not self.settings.redis_url:
            report["redis"] = "not configured"
            return report
        report.update(await self.guard.health())
        return report
