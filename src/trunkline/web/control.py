"""The control plane of one worker: limits, portal states and injected faults applied.

:class:`ControlPlane` runs inside each worker: it builds the limiter backend
(in-process, or Redis when ``redis_url`` is set) and the guard, rereads states
and faults every ``control_poll_ms`` (the CLI and the operator endpoints write them
through ``services/control.py``), and hands the dispatcher the guard
(:meth:`~trunkline.rest.dispatch.Dispatcher.use_guard`) only while something is
active, so that a server with nothing switched on pays one ``is None`` check per
call. It is the one place that sets the dispatcher's guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from trunkline.auth.hosts import host_names
from trunkline.limits.guard import Backend, Guard
from trunkline.limits.memory import MemoryBackend
from trunkline.limits.shared import redis_backend
from trunkline.rest.dispatch import Dispatcher
from trunkline.settings import Settings
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.control import ControlRepository

log = logging.getLogger("trunkline.limits")


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
    def __init__(
        self,
        control: ControlRepository,
        accounts: AccountRepository,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.repo = control
        self.accounts = accounts
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
        # Other shared operator state each refresh rereads (the virtual clock's offset).
        self.followers: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        if self.settings.redis_url:
            await self.guard.probe()
        await self.refresh()
        if self.settings.control_poll_ms > 0:
            self._task = asyncio.create_task(self._poll(), name="trunkline control poll")

    async def refresh(self) -> None:
        """Reread states and faults; hand the dispatcher the guard if it is needed."""
        for follow in self.followers:
            await follow()
        states = await self.repo.states()
        faults = tuple(await self.repo.faults())
        domains = {}
        for portal_id, state in states.items():  # rare: a blocked or closed portal
            if state.early and (portal := await self.accounts.get_portal(portal_id)) is not None:
                domains[portal_id] = portal.domain
        self.guard.load(states, faults, domains)
        if self.dispatcher is not None:
            self.dispatcher.use_guard(self.guard if self.guard.active else None)

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
