"""The composition root: settings -> storage -> services -> the ASGI application.

Start-up phases, in order: ``prepare`` (once, before any worker starts: the
database is migrated and, when empty, seeded), then per worker ``startup``
(the store is opened and the services are built) and ``shutdown``.

``/rest/...`` goes straight to the REST wire (a plain ASGI app, the hot path);
everything else goes to a small Starlette app (index page, health, and the
OAuth pages ``/oauth/authorize/`` and ``/oauth/token/``).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from trunkline import __version__
from trunkline.applications import AppService
from trunkline.auth.hosts import HostPolicy
from trunkline.auth.oauth import OAuthServer
from trunkline.auth.pages import OAuthPages
from trunkline.auth.tokens import TokenAuthenticator
from trunkline.auth.webhooks import WebhookAuthenticator, hash_code
from trunkline.control import ControlPlane, ControlService
from trunkline.domain.portals import Portal
from trunkline.domain.principal import Credentials, Principal
from trunkline.engine.runtime import Engine, engine_secret
from trunkline.errors import NoAuthFoundError
from trunkline.limits.faults import ConnectionDrop
from trunkline.methods import batch, connector, sip_status, system, voximplant_sip
from trunkline.operator import OperatorApi
from trunkline.rest.app import RestApp
from trunkline.rest.dispatch import Dispatcher
from trunkline.rest.registry import Registry
from trunkline.service import AccountService, LineService, Services
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.apps import AppRepository
from trunkline.storage.secrets import Cipher, load_or_create_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

log = logging.getLogger("trunkline")

SEED_SCOPES = ["telephony"]
OAUTH_PATHS = ("/oauth/authorize/", "/oauth/authorize", "/oauth/token/", "/oauth/token")


def build_registry() -> Registry:
    registry = Registry()
    batch.register(registry)
    voximplant_sip.register(registry)
    sip_status.register(registry)
    connector.register(registry)
    system.register(registry)
    return registry


def key_path(settings: Settings, url: DatabaseUrl) -> Path:
    if settings.key_file:
        return Path(settings.key_file)
    if url.is_sqlite and url.sqlite_path != ":memory:":
        return Path(url.sqlite_path + ".key")
    return Path("trunkline.key")


def secret_key(settings: Settings, url: DatabaseUrl) -> str:
    """The secret key: the setting, else the key file (created on first use)."""
    return settings.secret_key or load_or_create_key(key_path(settings, url))


def cipher_for(settings: Settings, url: DatabaseUrl) -> Cipher:
    return Cipher(secret_key(settings, url))


def seed_code(settings: Settings, url: DatabaseUrl) -> str:
    """The seeded webhook's code, derived from the secret key.

    Only its hash is stored; deriving it lets every start print the same URL
    without keeping the code anywhere in clear.
    """
    key = secret_key(settings, url).encode()
    digest = hmac.new(key, b"trunkline seed webhook", hashlib.sha256).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in digest[:16])


def engine_mode(settings: Settings) -> str:
    """Where the SIP engine runs: ``inprocess``, ``process`` or ``off`` (``sip_engine``)."""
    if settings.sip_engine == "auto":
        return "inprocess" if settings.workers <= 1 else "process"
    return settings.sip_engine


def build_engine(settings: Settings, url: DatabaseUrl, store: Store) -> Engine:
    return Engine(store, settings, secret=engine_secret(secret_key(settings, url)))


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
    """Chooses the credential kind a request carries: a webhook's user and code
    (path or ``aplogin``/``ap``) win over an OAuth token; neither: ``NO_AUTH_FOUND``."""

    def __init__(
        self, webhooks: WebhookAuthenticator, tokens: TokenAuthenticator | None = None
    ) -> None:
        self.webhooks = webhooks
        self.tokens = tokens

    async def __call__(self, creds: Credentials) -> Principal:
        if creds.aplogin or creds.ap:
            return await self.webhooks.authenticate(creds)
        if creds.token and self.tokens is not None:
            return await self.tokens.authenticate(creds)
        raise NoAuthFoundError()


class TrunklineApp:
    """The ASGI application of one worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tune_gc = False
        self.url = DatabaseUrl(settings.database_url)
        self.registry = build_registry()
        self.store: Store | None = None
        self.services: Services | None = None
        self.rest: RestApp | None = None
        self.pages: OAuthPages | None = None
        # Every OAuth expiry check reads this clock; tests replace it to move time.
        self.clock: Callable[[], float] = time.time
        self.engine: Engine | None = None
        self.control: ControlPlane | None = None  # limits, portal states, faults
        operator = OperatorApi(
            settings,
            lambda: ControlService(self._started(self.store)),
            lambda: self._started(self.control),
            lambda: [m.name for m in self.registry],
        )
        self.web = Starlette(
            routes=[
                Route("/", self.index),
                Route("/health", self.health),
                *operator.routes(),
                *(Route(path, self.oauth_page, methods=["GET", "POST"]) for path in OAUTH_PATHS),
            ],
        )
        self.web.router.redirect_slashes = False  # clients treat any 3xx as "portal moved"

    async def startup(self) -> None:
        self.store = await Store.open(self.url, cipher_for(self.settings, self.url))

        def now() -> float:
            return self.clock()

        repo = AppRepository(self.store)
        hosts = HostPolicy(
            repo,
            fallback=self.settings.host_fallback,
            default_domain=self.settings.default_portal_domain,
        )
        self.services = Services(
            lines=LineService(self.store, self.settings),
            accounts=AccountService(self.store, self.settings),
            settings=self.settings,
            apps=AppService(self.store, self.settings, clock=now),
        )
        self.pages = OAuthPages(repo, hosts, OAuthServer(self.store, repo, self.settings, now), now)
        authenticate = Authenticator(
            WebhookAuthenticator(
                self.store, https_required=self.settings.https_required, hosts=hosts
            ),
            TokenAuthenticator(self.store, repo, hosts, now),
        )
        if engine_mode(self.settings) == "inprocess":
            self.engine = build_engine(self.settings, self.url, self.store)
            self.services.lines.observers.append(self.engine)
            await self.engine.start()
        dispatcher = Dispatcher(self.registry, authenticate, self.services)
        self.control = ControlPlane(self.store, self.settings, now)
        await self.control.start(dispatcher)
        self.rest = RestApp(
            dispatcher,
            max_body=self.settings.max_body_bytes,
            max_nesting=self.settings.max_nesting,
            max_vars=self.settings.max_input_vars,
        )
        if self.tune_gc:
            # Everything allocated so far lives as long as the worker: keep it out of the
            # cyclic collector's way, and collect the young generation less often.
            # Measured on `voximplant.sip.get` by CONFIG_ID: 174 -> 155 µs of CPU a request.
            gc.freeze()
            gc.set_threshold(7000, 10, 10)

    async def shutdown(self) -> None:
        if self.control is not None:
            await self.control.stop()
            self.control = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"].lstrip("/")
            if path == "rest" or path.startswith("rest/"):
                assert self.rest is not None, "the application has not started"
                try:
                    await self.rest(scope, receive, send)
                except ConnectionDrop:  # an injected fault: start an answer, then abandon it
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [(b"content-length", b"64")],
                        }
                    )
                    raise RuntimeError("injected fault: connection dropped") from None
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

    async def oauth_page(self, request: Request) -> Response:
        assert self.pages is not None, "the application has not started"
        if request.url.path.startswith("/oauth/token"):
            return await self.pages.token(request)
        return await self.pages.authorize(request)

    async def health(self, request: Request) -> JSONResponse:
        ok = True
        try:
            assert self.store is not None
            await self.store.ping()
        except Exception:
            ok = False
        report: dict[str, Any] = {"database": "ok" if ok else "unreachable", "pid": os.getpid()}
        if self.control is not None:
            report.update(await self.control.health())
        redis_ok = report.get("redis") in (None, "ok", "not configured")
        report = {"status": "ok" if ok and redis_ok else "degraded", **report}
        # Redis down: still serving (unless fail-closed), so still healthy to a balancer.
        serving = ok and (redis_ok or not self.settings.redis_fail_closed)
        return JSONResponse(report, status_code=200 if serving else 503)

    @staticmethod
    def _started(part: Any) -> Any:
        assert part is not None, "the application has not started"
        return part


def create_app(settings: Settings | None = None) -> TrunklineApp:
    """The ASGI factory uvicorn calls in each worker (settings from the environment)."""
    app = TrunklineApp(settings or Settings.from_env())
    app.tune_gc = True  # a server process of its own (tests build apps without this)
    return app
