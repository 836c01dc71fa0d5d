"""Business rules of accounts: portals, users and incoming webhooks.

Rules:

* A webhook acts as one existing user of its portal; its code is made here (16 of
  ``[a-z0-9]``, or the one given, as the seed's derived code), shown once, and stored
  only as its SHA-256.
* With no domain given, "the portal" is the first one (a single-portal install).
* A webhook is found for a change only among its own portal's webhooks.
* A portal's time zone is an IANA name that ``zoneinfo`` knows (``tzdata`` ships them).
* A taken user id or login is reported as what the caller gave: the id when they chose
  one, else the login.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trunkline.auth.webhooks import hash_code, new_code
from trunkline.domain.ids import SYSTEM, Ids
from trunkline.domain.portals import Portal, User, Webhook
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.driver import DuplicateError


class AccountError(LookupError):
    """An operator mistake: no such user or webhook (a message to show)."""


@dataclass(slots=True)
class CreatedWebhook:
    webhook: Webhook
    code: str
    user: User


class AccountService:
    """Portals, users and webhooks, for the CLI, the seed and the tests."""

    def __init__(self, accounts: AccountRepository, *, ids: Ids = SYSTEM) -> None:
        self.repo = accounts
        self.ids = ids  # webhook codes and member ids (seeded: reproducible)

    async def create_portal(self, domain: str, *, title: str = "", timezone: str = "UTC") -> Portal:
        if not known_zone(timezone):
            raise AccountError(
                f"unknown time zone {timezone!r} (an IANA name: Europe/Berlin, "
                "America/New_York, UTC)"
            )
        domain = domain.lower()
        self.ids.restart(domain)  # a new portal's ids start their stream again
        member_id = self.ids.token_hex(16, domain)
        return await self.repo.create_portal(
            domain, title=title, timezone=timezone, member_id=member_id
        )

    async def delete_portal(self, portal: Portal) -> None:
        """The portal and everything that belongs to it (the rows cascade)."""
        await self.repo.delete_portal(portal.id)

    async def portal(self, domain: str | None = None) -> Portal | None:
        """The portal with this domain, or the first one when no domain is given."""
        if domain:
            return await self.repo.portal_by_domain(domain)
        portals = await self.repo.list_portals()
        return portals[0] if portals else None

    async def portals(self) -> list[Portal]:
        return await self.repo.list_portals()

    async def create_user(self, portal: Portal, login: str, **kwargs: Any) -> User:
        try:
            return await self.repo.create_user(portal.id, login, **kwargs)
        except DuplicateError:
            chosen = kwargs.get("user_id")
            if chosen is not None and await self.repo.get_user(portal.id, chosen) is not None:
                raise AccountError(f"portal {portal.domain} already has a user {chosen}") from None
            raise AccountError(
                f"portal {portal.domain} already has a user with the login {login!r}"
            ) from None

    async def user(self, portal: Portal, user_id: int) -> User | None:
        return await self.repo.get_user(portal.id, user_id)

    async def portal_users(self, portal: Portal) -> list[User]:
        return await self.repo.list_users(portal.id)

    async def update_user(self, portal: Portal, user_id: int, changes: dict[str, object]) -> bool:
        """Change some of a user's name, last name, activity, inner number, e-mail;
        False when the portal has no such user."""
        return await self.repo.update_user(portal.id, user_id, changes)

    async def users(self, portal: Portal) -> list[tuple[User, bool]]:
        """The portal's users, each with whether it has a sign-in password."""
        found = await self.repo.list_users(portal.id)
        with_password = await self.repo.users_with_password(portal.id)
        return [(user, user.user_id in with_password) for user in found]

    async def create_webhook(
        self,
        portal: Portal,
        user_id: int,
        scopes: Sequence[str],
        *,
        title: str = "",
        expires_at: float | None = None,
        code: str | None = None,
    ) -> CreatedWebhook:
        user = await self.repo.get_user(portal.id, user_id)
        if user is None:
            raise AccountError(f"portal {portal.domain} has no user {user_id}")
        code = code or new_code(self.ids, portal.domain)
        webhook = await self.repo.create_webhook(
            portal.id, user_id, hash_code(code), scopes, title=title, expires_at=expires_at
        )
        return CreatedWebhook(webhook, code, user)

    async def webhook_exists(self, code: str) -> bool:
        return await self.repo.webhook_by_hash(hash_code(code)) is not None

    async def webhooks(self, portal: Portal) -> list[Webhook]:
        return await self.repo.list_webhooks(portal.id)

    async def webhook(self, portal: Portal, webhook_id: int) -> Webhook:
        """One of the portal's webhooks (AccountError when it has no such webhook)."""
        for hook in await self.repo.list_webhooks(portal.id):
            if hook.id == webhook_id:
                return hook
        raise AccountError(f"portal {portal.domain} has no webhook {webhook_id}")

    async def set_webhook_active(self, webhook: Webhook, active: bool) -> None:
        await self.repo.set_webhook_active(webhook.id, active)

    async def delete_webhook(self, webhook: Webhook) -> None:
        await self.repo.delete_webhook(webhook.id)


def known_zone(name: str) -> bool:
    """Whether ``name`` is a time zone ``zoneinfo`` can load."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
