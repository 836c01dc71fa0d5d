"""Operator controls: portal states and injected faults, validated and stored.

The CLI (``trunkline portal state``, ``trunkline fault``) and the operator endpoints
(``web/operator/limits.py``) call this; it validates and writes to the database, which every
worker shares. Each worker's control plane (``web/control.py``) rereads the rows and
applies them.

Rules:

* A fault is validated by ``limits.faults.validate`` (``FaultError`` when invalid); its
  method, when the caller knows the method names, must be one of them; its portal is
  named by domain.
* A state change is applied to the stored state by ``limits.states.changed``
  (``StateError`` when invalid).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trunkline.domain.portals import Portal
from trunkline.limits.faults import Fault, FaultError, validate
from trunkline.limits.states import PortalState, changed
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.control import ControlRepository


class ControlService:
    def __init__(self, control: ControlRepository, accounts: AccountRepository) -> None:
        self.repo = control
        self.accounts = accounts

    async def portal_named(self, domain: str) -> Portal | None:
        return await self.accounts.portal_by_domain(domain)

    async def portal(self, domain: str | None) -> Portal | None:
        """The portal a fault names (None: every portal); FaultError when unknown."""
        if domain is None:
            return None
        portal = await self.accounts.portal_by_domain(domain)
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
