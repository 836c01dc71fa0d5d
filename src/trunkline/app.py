"""The composition root: settings -> storage -> services -> the ASGI application.

Start-up phases, in order: ``prepare`` (once, before any worker starts: the
database is migrated and, when empty, seeded), then per worker ``startup``
(the store is opened and the services are built) and ``shutdown``.

``/rest/...`` goes straight to the REST wire (a plain ASGI app, the hot path);
everything else goes to a small Starlette app (index page and health).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from trunkline import __version__
from trunkline.auth.principal import Credentials, Principal
from trunkline.auth.webhooks import WebhookAuthenticator, hash_code
from trunkline.errors import NoAuthFoundError
from trunkline.methods import batch, voximplant_sip
from trunkline.portals import Portal
from trunkline.rest.app import RestApp
from trunkline.rest.dispatch import Dispatcher
from trunkline.rest.registry import Registry
from trunkline.service import AccountService, LineService, Services
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.secrets import Cipher, load_or_create_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

log = logging.getLogger("trunkline")

SEED_SCOPES = ["telephony"]


def build_registry() -> Registry:
    registry = Registry()
    batch.register(registry)
    voximplant_sip.register(registry)
    return registry


def key_path(settings: Settings, url: DatabaseUrl) -> Path:
    if settings.key_file:
        return Path(settings.key_file)
    if url.is_sqlite and url.sqlite_path != ":memory:":
        return Path(url.sqlite_path + ".key")
    return Path("trunkline.key")


def cipher_for(settings: Settings, url: DatabaseUrl) -> Cipher:
    key = settings.secret_key or load_or_create_key(key_path(settings, url))
    return Cipher(key)


def seed_code(settings: Settings, url: DatabaseUrl) -> str:
    """The seeded webhook's code, derived from the secret key.

    Only its hash is stored; deriving it lets every start print the same URL
    without keeping the code anywhere in clear.
    """
    key = (settings.secret_key or load_or_create_key(key_path(settings, url))).encode()
    digest = hmac.new(key, b"trunkline seed webhook", hashlib.sha256).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in digest[:16])


@dataclass
class Seed:
    portal: Portal
    user_id: int
    code: str | None  # None when the seeded webhook no longer exists


async def seed(store: Store, settings: Settings, url: DatabaseUrl) -> Seed | None:
    """On an empty database: portal, administrator 1, telephony webhook for user 1."""
    accounts = AccountService(store, settings)
    code = seed_code(settings, url)
    portal = await accounts.portal()
    if portal is None:
        if not settings.seed:
            return None
        portal = await accounts.create_portal(settings.default_portal_domain, title="Trunkline")
        await accounts.create_user(
            portal, "admin", name="Admin", last_name="Trunkline", is_admin=True, user_id=1
        )
        await accounts.create_webhook(portal, 1, SEED_SCOPES, title="Quick start", code=code)
    exists = await store.webhook_by_hash(hash_code(code)) is not None
    return Seed(portal, 1, code if exists else None)


async def prepare(settings: Settings) -> Seed | None:
    """Migrate the database to the newest schema and seed it when empty."""
    url = DatabaseUrl(settings.database_url)
    await migrate.upgrade_async(url)
    store = await Store.open(url, cipher_for(settings, url))
    try:
        return await seed(store, settings, url)
    finally:
        await store.close()


class Authenticator:
    """Chooses the credential kind a request carries (OAuth tokens: see auth/)."""

    def __init__(self, webhooks: WebhookAuthenticator) -> None:
        self.webhooks = webhooks

    async def __call__(self, creds: Credentials) -> Principal:
        if creds.aplogin or creds.ap:
            return await self.webhooks.authenticate(creds)
        raise NoAuthFoundError()


class TrunklineApp:
    """The ASGI application of one worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = DatabaseUrl(settings.database_url)
        self.registry = build_registry()
        self.store: Store | None = None
        self.services: Services | None = None
        self.rest: RestApp | None = None
        self.web = Starlette(
            routes=[Route("/", self.index), Route("/health", self.health)],
        )
        self.web.router.redirect_slashes = False  # clients treat any 3xx as "portal moved"

    async def startup(self) -> None:
        self.store = await Store.open(self.url, cipher_for(self.settings, self.url))
        self.services = Services(
            lines=LineService(self.store, self.settings),
            accounts=AccountService(self.store, self.settings),
            settings=self.settings,
        )
        authenticate = Authenticator(
            WebhookAuthenticator(self.store, https_required=self.settings.https_required)
        )
        dispatcher = Dispatcher(self.registry, authenticate, self.services)
        self.rest = RestApp(
            dispatcher,
            max_body=self.settings.max_body_bytes,
            max_nesting=self.settings.max_nesting,
            max_vars=self.settings.max_input_vars,
        )

    async def shutdown(self) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"].lstrip("/")
            if path == "rest" or path.startswith("rest/"):
                assert self.rest is not None, "the application has not started"
                await self.rest(scope, receive, send)
                return
            await self.web(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def index(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse(
            f"Trunkline {__version__}: Bitrix24 voximplant.sip.* REST at /rest/\n"
        )

    async def health(self, request: Request) -> JSONResponse:
        ok = True
        try:
            assert self.store is not None
            await self.store.ping()
        except Exception:
            ok = False
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"},
            status_code=200 if ok else 503,
        )


def create_app(settings: Settings | None = None) -> TrunklineApp:
    """The ASGI factory uvicorn calls in each worker (settings from the environment)."""
    return TrunklineApp(settings or Settings.from_env())
