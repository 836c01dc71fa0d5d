"""Domain values of tenancy and access: portals, users, webhooks (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

# Scopes a webhook or token may carry. ``telephony`` covers voximplant.*; the
# global methods (batch, scope, methods, ...) need none.
KNOWN_SCOPES = ("telephony", "user", "user_basic", "crm", "im", "placement", "app")


@dataclass(slots=True, frozen=True)
class Portal:
    id: int
    domain: str
    member_id: str
    title: str
    timezone: str
    language: str
    license: str


@dataclass(slots=True, frozen=True)
class User:
    portal_id: int
    user_id: int
    login: str
    name: str
    last_name: str
    is_admin: bool
    line_modify: bool
    active: bool

    @property
    def can_modify_lines(self) -> bool:
        """The "Manage numbers - modify" right: administrators always have it."""
        return self.is_admin or self.line_modify


@dataclass(slots=True, frozen=True)
class Webhook:
    id: int
    portal_id: int
    user_id: int
    title: str
    scopes: tuple[str, ...]
    active: bool
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now
