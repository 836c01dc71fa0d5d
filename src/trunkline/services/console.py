"""What the web console reads and does (``web/console/``), over the repositories it needs.

Rules:

* Who may sign in: the operator (the ``operator_token``), who sees every portal; or an
  administrator of a portal with a sign-in password (``trunkline user password``), who
  sees that portal only. A wrong login, a user who is not an administrator and a wrong
  password all get the same answer.
* Reads are paged as the API pages (50 from ``start``); see ``storage/console.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from trunkline.auth import passwords
from trunkline.domain.clock import Clock
from trunkline.domain.portals import Portal
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.console import ConsoleReads

__all__ = ["Admin", "ConsoleService"]


@dataclass(frozen=True, slots=True)
class Admin:
    portal_id: int
    user_id: int
    login: str


class ConsoleService:
    def __init__(self, reads: ConsoleReads, accounts: AccountRepository, clock: Clock) -> None:
        self.reads = reads
        self.accounts = accounts
        self.clock = clock

    async def sign_in(self, domain: str, login: str, password: str) -> Admin | None:
        """The administrator whose sign-in password this is, else None."""
        portal = await self.accounts.portal_by_domain(domain.strip().lower())
        if portal is None or not login.strip():
            await passwords.verify_async(None, password)  # the same time as a real check
            return None
        user = await self.accounts.user_by_login(portal.id, login.strip())
        stored = await self.accounts.password_hash(portal.id, user.user_id) if user else None
        if not await passwords.verify_async(stored, password) or user is None:
            return None
        if stored is not None and passwords.needs_rehash(stored):  # as the OAuth page does
            rehashed = await asyncio.to_thread(passwords.hash_password, password)
            await self.accounts.set_password_hash(portal.id, user.user_id, rehashed)
        if not user.is_admin or not user.active:
            return None
        return Admin(portal.id, user.user_id, user.login)

    async def portals(self) -> list[Portal]:
        return await self.accounts.list_portals()

    async def portal(self, domain: str) -> Portal | None:
        return await self.accounts.portal_by_domain(domain.lower())
