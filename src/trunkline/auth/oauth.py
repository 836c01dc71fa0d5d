"""The OAuth 2.0 server: authorization codes and the token endpoint (``rest-protocol.md`` §9).

No HTTP here (``web/oauth_pages.py`` is the wire): parameters in, a JSON-ready dict
or an :class:`OAuthError` out; :func:`error_body` is the one renderer of the token
endpoint's errors (the RFC 6749 §5.2 shape, ``errors.py`` draws the three shapes).

Token endpoint rules (``/oauth/token/``, GET query or POST form alike):

1. ``grant_type`` must be ``authorization_code`` or ``refresh_token``, else
   400 ``invalid_request``; every parameter is a single string of at most 512
   characters, else 400 ``invalid_request``.
2. ``client_id`` and ``client_secret`` must name a registered application (the
   secret compared by its hash, in constant time), else 401 ``invalid_client``.
   This is checked before the code or refresh token is touched, so a wrong
   secret changes nothing.
3. ``code`` (30 s, once) or ``refresh_token`` (``refresh_token_ttl``, once) must
   be one this application was given, unused and unexpired, else 400
   ``invalid_grant``; the app must still be installed on the portal, else 401
   ``invalid_client``. A refused grant changes nothing.
4. The answer is a new pair: the used refresh token and the access token issued
   with it stop working (rotation). Fields: ``access_token``, ``expires``,
   ``expires_in``, ``scope``, ``domain`` (this server, as ``oauth.bitrix.info``
   is for the cloud), ``server_endpoint``, ``status``, ``client_endpoint``,
   ``member_id``, ``user_id``, ``refresh_token``.

The endpoints point back at this server: ``public_url`` when set, else the base
URL the request came to; ``client_endpoint`` uses the portal's own domain when
that base is another portal's address (a token is refused at another portal).
The authorization server publishes no HTTP statuses, so these follow RFC 6749 §5.2.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from trunkline.auth.hosts import host_names
from trunkline.auth.tokens import fresh_tokens, hash_secret, new_code, token_pair
from trunkline.domain.clock import Clock
from trunkline.domain.portals import (
    Application,
    Endpoints,
    GrantRefusedError,
    Installation,
    NewTokens,
    Portal,
    Redeemed,
    TokenPair,
)
from trunkline.settings import Settings

log = logging.getLogger("trunkline.oauth")

CODE_TTL = 30  # seconds an authorization code lives
MAX_PARAM_LENGTH = 512
GRANT_TYPES = ("authorization_code", "refresh_token")


class OAuthError(Exception):
    """An authorization-server error (RFC 6749 §5.2): ``{"error", "error_description"}``
    and an HTTP status (400, 401, 413)."""

    def __init__(self, error_code: str, error_description: str, http_status: int = 400) -> None:
        super().__init__(f"{error_code}: {error_description}")
        self.error_code = error_code
        self.error_description = error_description
        self.http_status = http_status

    def to_wire(self) -> dict[str, str]:
        return {"error": self.error_code, "error_description": self.error_description}


def error_body(exc: BaseException) -> tuple[int, dict[str, str]]:
    """(status, body) for any exception at the token endpoint: the one OAuth renderer.
    Anything but an :class:`OAuthError` is logged and answered 500 ``server_error``."""
    if not isinstance(exc, OAuthError):
        log.error("token endpoint failed", exc_info=exc)
        exc = OAuthError("server_error", "Internal server error", 500)
    return exc.http_status, exc.to_wire()


_REFUSED = {
    "unknown": "The {what} is invalid or has already been used",
    "expired": "The {what} has expired",
}


class HostReader(Protocol):
    """Which portal a host names (``storage.accounts.AccountRepository``)."""

    async def portal_by_host(self, names: Sequence[str]) -> Portal | None: ...


class PortalReader(HostReader, Protocol):
    """The portal reads of the token endpoint (``storage.accounts.AccountRepository``)."""

    async def get_portal(self, portal_id: int) -> Portal | None: ...


class GrantStore(Protocol):
    """Clients, codes and token rotation (``storage.apps.AppRepository``)."""

    async def client(self, client_id: str) -> tuple[Application, str] | None: ...

    async def insert_code(
        self, code_hash: str, install_id: int, user_id: int, expires_at: float, now: float
    ) -> None: ...

    async def redeem_code(
        self, code_hash: str, app: Application, tokens: NewTokens, now: float
    ) -> Redeemed: ...

    async def redeem_refresh(
        self, refresh_hash: str, app: Application, tokens: NewTokens, now: float
    ) -> Redeemed: ...


async def endpoints(portals: HostReader, portal: Portal, base: str) -> Endpoints:
    """The REST and OAuth endpoints a client should use, from this server's base URL."""
    base = base.rstrip("/")
    parts = urlsplit(base)
    names = host_names(parts.netloc)
    client_base = base
    if portal.domain not in names and await portals.portal_by_host(names) is not None:
        port = f":{parts.port}" if parts.port else ""
        client_base = f"{parts.scheme}://{portal.domain}{port}"
    return Endpoints(f"{client_base}/rest/", f"{base}/rest/", parts.netloc)


def token_answer(
    pair: TokenPair, portal: Portal, app: Application, where: Endpoints
) -> dict[str, Any]:
    """The token endpoint's JSON (also the ``auth[...]`` block of ONAPPINSTALL)."""
    return {
        "access_token": pair.access_token,
        "expires": pair.expires_at,
        "expires_in": pair.expires_in,
        "scope": ",".join(pair.scopes),
        "domain": where.server_domain,
        "server_endpoint": where.server_endpoint,
        "status": app.status,
        "client_endpoint": where.client_endpoint,
        "member_id": portal.member_id,
        "user_id": pair.user_id,
        "refresh_token": pair.refresh_token,
    }


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise OAuthError("invalid_request", f"Parameter {name} must be a string")
    if len(value) > MAX_PARAM_LENGTH:
        raise OAuthError("invalid_request", f"Parameter {name} is too long")
    return value


class OAuthServer:
    def __init__(
        self, grants: GrantStore, portals: PortalReader, settings: Settings, clock: Clock
    ) -> None:
        self.grants = grants
        self.portals = portals
        self.settings = settings
        self.clock = clock

    def base(self, request_base: str) -> str:
        return (self.settings.public_url or request_base).rstrip("/")

    # -- authorization codes ---------------------------------------------------

    async def create_code(self, installation: Installation, user_id: int) -> str:
        """A code for the redirect after sign-in: 30 seconds, single use."""
        code = new_code()
        now = self.clock.now()
        await self.grants.insert_code(
            hash_secret(code), installation.id, user_id, now + CODE_TTL, now
        )
        return code

    # -- the token endpoint ----------------------------------------------------

    async def token(self, params: Mapping[str, Any], request_base: str) -> dict[str, Any]:
        grant_type = _param(params, "grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "Parameter grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("invalid_request", "Unsupported grant_type")
        client_id = _param(params, "client_id")
        client_secret = _param(params, "client_secret")
        grant_name = "code" if grant_type == "authorization_code" else "refresh_token"
        grant = _param(params, grant_name)
        if client_id is None or client_secret is None:
            raise OAuthError("invalid_client", "client_id and client_secret are required", 401)
        if grant is None:
            raise OAuthError("invalid_request", f"Parameter {grant_name} is required")
        app = await self._client(client_id, client_secret)
        now = self.clock.now()
        access, refresh, stored = fresh_tokens(
            now,
            access_ttl=self.settings.access_token_ttl,
            refresh_ttl=self.settings.refresh_token_ttl,
        )
        what = "authorization code" if grant_name == "code" else "refresh token"
        try:
            if grant_name == "code":
                redeemed = await self.grants.redeem_code(hash_secret(grant), app, stored, now)
            else:
                redeemed = await self.grants.redeem_refresh(hash_secret(grant), app, stored, now)
        except GrantRefusedError as exc:
            if exc.reason == "not_installed":
                raise OAuthError(
                    "invalid_client", "The application is not installed on the portal", 401
                ) from None
            raise OAuthError("invalid_grant", _REFUSED[exc.reason].format(what=what)) from None
        pair = token_pair(access, refresh, stored, redeemed.user_id, redeemed.scopes, now)
        return await self._answer(pair, redeemed, app, request_base)

    async def _client(self, client_id: str, client_secret: str) -> Application:
        found = await self.grants.client(client_id)
        given = hash_secret(client_secret)
        expected = found[1] if found else hash_secret("no such client: " + client_id)
        if not hmac.compare_digest(given, expected) or found is None:
            raise OAuthError("invalid_client", "Invalid client credentials", 401)
        return found[0]

    async def _answer(
        self, pair: TokenPair, redeemed: Redeemed, app: Application, request_base: str
    ) -> dict[str, Any]:
        portal = await self.portals.get_portal(redeemed.installation.portal_id)
        if portal is None:  # deleted between the two statements
            raise OAuthError(
                "invalid_client", "The application is not installed on the portal", 401
            )
        where = await endpoints(self.portals, portal, self.base(request_base))
        return token_answer(pair, portal, app, where)
