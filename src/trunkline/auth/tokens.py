"""OAuth access tokens on the portal (``rest-protocol.md`` §9.5) and how they are made.

Tokens, codes and client secrets are long random strings made here; only their
SHA-256 is stored (a fast hash is enough for secrets nobody can guess; user
passwords, which people choose, get argon2id in ``auth/passwords.py``).

Checks on a REST call carrying ``auth``/``access_token``/``Authorization: Bearer``,
in the core's order, each answered with HTTP 401:

1. the token is known (its hash is stored), is not absurdly long, and belongs
   to the portal the Host header names (``auth/hosts.py``), else ``invalid_token``
   — a token of another portal, forged or truncated, is simply unknown here;
2. the application is installed on the portal, else ``APPLICATION_NOT_FOUND``;
3. ``expires > now``, else ``expired_token``;
4. the token's user exists and is active, else ``authorization_error``;
5. the user may use the application (``app restrict``), else ``user_access_error``.

The method's scope (``insufficient_scope``) is checked next by the dispatcher.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Sequence
from typing import Protocol

from trunkline.auth.hosts import HostPolicy
from trunkline.domain.clock import Clock
from trunkline.domain.ids import SYSTEM, Ids
from trunkline.domain.portals import (
    CLIENT_ID_PREFIXES,
    AccessGrant,
    NewTokens,
    Portal,
    TokenPair,
    User,
)
from trunkline.domain.principal import OAUTH, Credentials, Principal
from trunkline.errors import (
    ApplicationNotFoundError,
    AuthorizationError,
    ExpiredTokenError,
    InvalidTokenError,
    UserAccessError,
)

MAX_TOKEN_LENGTH = 256
_SECRET_ALPHABET = string.ascii_letters + string.digits


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", errors="replace")).hexdigest()


def new_token() -> str:
    """An access or refresh token, 70 hex digits like the real ones (280 bits)."""
    return secrets.token_hex(35)


def new_code() -> str:
    return secrets.token_hex(32)


def new_client_id(kind: str, ids: Ids = SYSTEM, scope: str = "") -> str:
    """``local.<14 hex>.<8 hex>`` or ``app.<14 hex>.<8 hex>``."""
    return f"{CLIENT_ID_PREFIXES[kind]}.{ids.token_hex(7, scope)}.{ids.token_hex(4, scope)}"


def new_client_secret(ids: Ids = SYSTEM, scope: str = "") -> str:
    """50 letters and digits (~297 bits), the length of real client secrets."""
    return ids.text(_SECRET_ALPHABET, 50, scope)


def fresh_tokens(
    now: float, *, access_ttl: int, refresh_ttl: int, ids: Ids = SYSTEM, scope: str = ""
) -> tuple[str, str, NewTokens]:
    """A new access and refresh token, and the hashes and expiry times to store."""
    access, refresh = ids.token_hex(35, scope), ids.token_hex(35, scope)
    stored = NewTokens(
        access_hash=hash_secret(access),
        refresh_hash=hash_secret(refresh),
        access_expires_at=now + access_ttl,
        refresh_expires_at=now + refresh_ttl,
    )
    return access, refresh, stored


def token_pair(
    access: str, refresh: str, stored: NewTokens, user_id: int, scopes: Sequence[str], now: float
) -> TokenPair:
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_at=int(stored.access_expires_at),
        expires_in=round(stored.access_expires_at - now),
        scopes=tuple(scopes),
        user_id=user_id,
    )


class GrantReader(Protocol):
    """The token lookup (``storage.apps.AppRepository``)."""

    async def grant(self, access_hash: str) -> AccessGrant | None: ...


class OwnerReader(Protocol):
    """The token's portal and user (``storage.accounts.AccountRepository``)."""

    async def get_portal(self, portal_id: int) -> Portal | None: ...

    async def get_user(self, portal_id: int, user_id: int) -> User | None: ...


class TokenAuthenticator:
    def __init__(
        self, grants: GrantReader, owners: OwnerReader, hosts: HostPolicy, clock: Clock
    ) -> None:
        self.grants = grants
        self.owners = owners
        self.hosts = hosts
        self.clock = clock

    async def authenticate(self, creds: Credentials) -> Principal:
        token = creds.token or ""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError()
        grant = await self.grants.grant(hash_secret(token))
        if grant is None:
            raise InvalidTokenError()
        portal = await self.owners.get_portal(grant.installation.portal_id)
        if portal is None or not await self.hosts.admits(creds.host, portal):
            raise InvalidTokenError()
        if not grant.installation.active:
            raise ApplicationNotFoundError()
        if grant.expires_at <= self.clock.now():
            raise ExpiredTokenError()
        user = await self.owners.get_user(portal.id, grant.user_id)
        if user is None or not user.active:
            raise AuthorizationError()
        if not grant.installation.allows(user.user_id):
            raise UserAccessError()
        return Principal(
            portal=portal,
            user=user,
            auth_type=OAUTH,
            scopes=frozenset(grant.scopes),
            app_id=grant.client_id,
        )
