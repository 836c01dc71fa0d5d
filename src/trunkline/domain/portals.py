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
    phone_inner: str | None = None  # UF_PHONE_INNER, the user's extension
    email: str = ""

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


# -- OAuth applications ----------------------------------------------------------

# client_id forms: local apps `local.<14 hex>.<8 hex>`, market apps `app.<14 hex>.<8 hex>`.
CLIENT_ID_PREFIXES = {"local": "local", "market": "app"}
# STATUS of an app (app.info, the token answer): L local, F free, D demo, T trial, P paid.
APP_STATUSES = ("L", "F", "D", "T", "P")


@dataclass(slots=True, frozen=True)
class Application:
    id: int
    client_id: str
    title: str
    code: str
    version: int
    status: str
    scopes: tuple[str, ...]
    handler_url: str
    redirect_uri: str

    @property
    def kind(self) -> str:
        return "local" if self.client_id.startswith("local.") else "market"


@dataclass(slots=True, frozen=True)
class Installation:
    """An application installed on a portal."""

    id: int
    app_id: int
    portal_id: int
    active: bool
    allowed_users: tuple[int, ...]  # empty: every user of the portal
    installed_at: float

    def allows(self, user_id: int) -> bool:
        return not self.allowed_users or user_id in self.allowed_users


@dataclass(slots=True, frozen=True)
class AccessGrant:
    """What an access token stands for, as the REST pipeline checks it."""

    installation: Installation
    client_id: str
    user_id: int
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(slots=True, frozen=True)
class TokenPair:
    """A freshly issued access and refresh token (shown once, stored as hashes)."""

    access_token: str
    refresh_token: str
    expires_at: int
    expires_in: int
    scopes: tuple[str, ...]
    user_id: int


@dataclass(slots=True, frozen=True)
class Connector:
    """The portal's paid SIP connector option (voximplant.sip.connector.status)."""

    free_minutes: int = 0
    paid: bool = False
    paid_until: float | None = None


@dataclass(frozen=True, slots=True)
class NewTokens:
    """A token pair to store, already hashed, with its expiry times."""

    access_hash: str
    refresh_hash: str
    access_expires_at: float
    refresh_expires_at: float


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a redeemed code or refresh token granted: for whom and what."""

    installation: Installation
    user_id: int
    scopes: tuple[str, ...]


class GrantRefusedError(Exception):
    """A code or refresh token could not be redeemed; ``reason`` says why.

    ``unknown``: no such code/token for this app, or already used; ``expired``;
    ``not_installed``: the app is no longer installed on the portal. The OAuth server
    turns it into an RFC 6749 error (``invalid_grant`` or ``invalid_client``).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a client reaches the portal's REST API and the OAuth server."""

    client_endpoint: str  # https://portal/rest/
    server_endpoint: str  # https://auth-server/rest/
    server_domain: str  # auth-server host[:port]
