"""Clean slates for tests: a portal deleted, every portal deleted, a portal saved by name
and put back (``storage/snapshots.py`` says which rows are a portal's).

Rules:

* Deleting or restoring a portal touches only that portal's rows (and, on restore, puts
  back the applications it had installed if they are gone); other portals are untouched.
* A snapshot's name is 1 to 64 of ``[A-Za-z0-9._-]``; saving a name again replaces it.
* The SIP engine is told about every line of the portal before and after, so cloud lines
  register (or stop) as the restored rows say.
"""

from __future__ import annotations

import re

from trunkline.domain.portals import Portal
from trunkline.services.lines import LineService
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.snapshots import SnapshotRepository

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SnapshotError(ValueError):
    """A snapshot that cannot be made or put back: a message to show."""


class SnapshotMissingError(LookupError):
    """No snapshot of that name."""


class SnapshotService:
    def __init__(
        self,
        snapshots: SnapshotRepository,
        accounts: AccountRepository,
        lines: LineService,
    ) -> None:
        self.repo = snapshots
        self.accounts = accounts
        self.lines = lines

    async def administrator_hash(self, domain: str) -> str | None:
        """The sign-in password hash of user 1 of ``domain`` (kept over a reset)."""
        portal = await self.accounts.portal_by_domain(domain)
        return None if portal is None else await self.accounts.password_hash(portal.id, 1)

    async def delete_portal(self, portal: Portal) -> None:
        config_ids = [line.config_id for line in await self.lines.all(portal)]
        await self.repo.delete_portal(portal.id)
        self.lines.touched(portal.id, config_ids)

    async def delete_everything(self) -> dict[str, int]:
        """Every portal, application, fault, snapshot and journal row (rows deleted per
        table); the running processes' records and engine leases stay."""
        for portal in await self.accounts.list_portals():
            self.lines.touched(portal.id, [line.config_id for line in await self.lines.all(portal)])
        return await self.repo.clear()

    async def save(self, portal: Portal, name: str) -> None:
        check_name(name)
        await self.repo.save(portal.domain, name, await self.repo.capture(portal.id))

    async def restore(self, domain: str, name: str) -> int:
        """Put snapshot ``name`` of ``domain`` back (the portal may have been deleted
        since); the portal's id."""
        check_name(name)
        data = await self.repo.load(domain, name)
        if data is None:
            raise SnapshotMissingError(f"portal {domain!r} has no snapshot {name!r}")
        portal_id, config_ids = await self.repo.restore(data)
        self.lines.touched(portal_id, config_ids)
        return portal_id

    async def names(self, domain: str) -> list[tuple[str, float]]:
        return await self.repo.names(domain)

    async def forget(self, domain: str, name: str) -> bool:
        check_name(name)
        return await self.repo.forget(domain, name) > 0


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise SnapshotError(f"a snapshot name is 1 to 64 of [A-Za-z0-9._-], got {name!r}")
