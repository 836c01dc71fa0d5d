"""The ASGI application of one worker: settings -> store -> services -> the wire.

Start-up phases, in order (``web/bootstrap.py`` has what runs before any worker):
``startup`` opens the store with the application clock, builds the services, the
authenticators, the in-process SIP engine (when it runs here), the dispatcher and the
control plane; ``shutdown`` stops them in reverse.

``/rest/...`` goes straight to the REST wire (a plain ASGI app, the hot path);
everything else goes to a small Starlette app (index page, health, the operator
API under ``/operator/`` and the OAuth pages ``/oauth/authorize/`` and
``/oauth/token/``). ``/health`` reports the database, Redis and the SIP engine;
``/metrics`` is Prometheus' exposition (``metrics/``, unless the ``metrics`` setting is off).

Every REST call is seen by the call log (``rest/calllog.py``): an access line per call
(``access_log``) and a note when a real Bitrix24 method is not emulated.

One :class:`~trunkline.domain.clock.Clock` (``TrunklineApp.clock``) is handed to the
store, the services, the authenticators, the OAuth server and pages, the limits and
the dispatcher: tests move it with ``clock.use(...)``/``advance(...)``.
"""

from __future__ import annotations

import logging
import os
from random import getrandbits
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from trunkline import __version__
from trunkline.auth.authenticator import Authenticator
from trunkline.auth.hosts import HostPolicy
from trunkline.auth.oauth import OAuthServer
from trunkline.auth.tokens import TokenAuthenticator
from trunkline.auth.webhooks import WebhookAuthenticator
from trunkline.domain.clock import Clock
from trunkline.domain.ids import Ids
from trunkline.events.http import FormPoster
from trunkline.limits.faults import ConnectionDrop
from trunkline.methods.catalog import build_registry
from trunkline.rest.app import RestApp
from trunkline.rest.calllog import CallLog
from trunkline.rest.dispatch import Dispatcher
from trunkline.rest.record import request_id
from trunkline.services.accounts import AccountService
from trunkline.services.apps import AppService
from trunkline.services.bundle import ServiceBundle
from trunkline.services.calls import CallService
from trunkline.services.clicks import ClickService
from trunkline.services.clock import ClockService
from trunkline.services.console import ConsoleService
from trunkline.services.control import ControlService
from trunkline.services.crm import CrmService
from trunkline.services.events import EventService
from trunkline.services.external_calls import ExternalCallService
from trunkline.services.external_lines import ExternalLineService
from trunkline.services.journal import JournalService, JournalWriter
from trunkline.services.lines import LineService
from trunkline.services.outbox import Deliverer
from trunkline.services.recordings import RecordingService
from trunkline.services.registrations import RegistrationService
from trunkline.services.simulator import CallSimulator
from trunkline.services.snapshots import SnapshotService
from trunkline.services.telephony import TelephonyService
from trunkline.settings import Settings
from trunkline.storage.console import ConsoleReads
from trunkline.storage.processes import ENGINE, SERVER
from trunkline.storage.record_files import RecordFiles, record_directory
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.web import operator as operator_api
from trunkline.web.bootstrap import (
    build_engine,
    cipher_for,
    engine_mode,
    reseed,
    secret_key,
    settle_collector,
)
from trunkline.web.console import Console
from trunkline.web.console import routes as console_routes
from trunkline.web.control import ControlPlane
from trunkline.web.fetcher import UrlFetcher
from trunkline.web.journal import JournalObserver
from trunkline.web.oauth_pages import OAuthPages
from trunkline.web.operator import OperatorApi
from trunkline.web.uploads import upload

if TYPE_CHECKING:
    from trunkline.engine.runtime import Engine  # imported by build_engine when it runs

log = logging.getLogger("trunkline")

OAUTH_PATHS = ("/oauth/authorize/", "/oauth/authorize", "/oauth/token/", "/oauth/token")


class TrunklineApp:
    """The ASGI application of one worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tune_gc = False
        self.url = DatabaseUrl(settings.database_url)
        self.registry = build_registry()
        self.store: Store | None = None
        self.services: ServiceBundle | None = None
        self.rest: RestApp | None = None
        self.pages: OAuthPages | None = None
        # Every time read of the worker; tests move it (clock.use, clock.advance).
        self.clock = Clock()
        self.engine: Engine | None = None
        self.control: ControlPlane | None = None  # limits, portal states, faults
        self.journal: JournalWriter | None = None  # the request journal (journal_size > 0)
        self.clock_service: ClockService | None = None  # the operators' virtual clock
        self.deliverer: Deliverer | None = None  # posts the events outbox
        self.poster: FormPoster | None = None
        self._base: str | None = None  # the recorded public URL, once found
        self.ids = Ids(None if settings.seed_ids < 0 else settings.seed_ids)
        operator = OperatorApi(
            settings,
            self._control_service,
            lambda: self._started(self.control),
            lambda: [m.name for m in self.registry],
            bundle=lambda: self._started(self.services),
            snapshots=self._snapshot_service,
            reseed=self.reseed,
            journal=self._journal_service,
            clock=lambda: self._started(self.clock_service),
            registrations=self.registration_service,
        )
        self.web = Starlette(
            routes=[
                Route("/", self.index),
                Route("/health", self.health),
                *([Route("/metrics", self.metrics)] if settings.metrics else []),
                *operator_api.routes(operator),
                *console_routes(Console(self)),
                *(Route(path, self.oauth_page, methods=["GET", "POST"]) for path in OAUTH_PATHS),
            ],
        )
        self.web.router.redirect_slashes = False  # clients treat any 3xx as "portal moved"

    async def startup(self) -> None:
        settings, clock = self.settings, self.clock
        self.store = store = await Store.open(self.url, cipher_for(settings, self.url), clock)
        hosts = HostPolicy(
            store.accounts,
            fallback=settings.host_fallback,
            default_domain=settings.default_portal_domain,
            monotonic=clock.monotonic,
        )
        self.poster = FormPoster(max_idle=settings.event_concurrency)
        self.deliverer = deliverer = Deliverer(
            store.events,
            store.apps,
            store.accounts,
            settings,
            clock,
            post=self.poster.post,
            base=self._event_base,
        )
        events = EventService(store.events, clock, wake=deliverer.wake)
        ids = self.ids  # one source of generated ids (seed_ids: reproducible)
        calls = CallService(store.calls, clock, events=events, ids=ids)
        telephony = TelephonyService(store.telephony, settings, calls)
        external_lines = ExternalLineService(store.external_lines, clock)
        crm = CrmService(store.crm, store.accounts, clock)
        external_calls = ExternalCallService(calls, external_lines, store.accounts, settings, crm)
        apps = AppService(
            store.apps,
            store.accounts,
            settings,
            clock=clock,
            events=events,
            deliverer=deliverer,
            ids=ids,
        )
        self.services = ServiceBundle(
            lines=LineService(store.lines, settings, ids=ids),
            accounts=AccountService(store.accounts, ids=ids),
            apps=apps,
            calls=calls,
            telephony=telephony,
            events=events,
            simulator=CallSimulator(calls, telephony, store.accounts, settings, clock),
            settings=settings,
            clock=clock,
            external_lines=external_lines,
            external_calls=external_calls,
            crm=crm,
            clicks=ClickService(external_calls, external_lines, apps, crm, events),
            recordings=RecordingService(
                store.calls,
                store.uploads,
                RecordFiles(record_directory(settings.record_dir, self.url)),
                settings,
                clock,
                UrlFetcher(),
            ),
        )
        await self.services.simulator.start()
        oauth = OAuthServer(store.apps, store.accounts, settings, clock)
        self.pages = OAuthPages(store.apps, store.accounts, hosts, oauth, clock)
        authenticate = Authenticator(
            WebhookAuthenticator(
                store.accounts, clock, https_required=settings.https_required, hosts=hosts
            ),
            TokenAuthenticator(store.apps, store.accounts, hosts, clock),
        )
        if engine_mode(settings) == "inprocess":
            self.engine = build_engine(settings, self.url, store)
            self.services.lines.observers.append(self.engine)
            await self.engine.start()
        dispatcher = Dispatcher(self.registry, authenticate, self.services, clock)
        names = [method.name for method in self.registry]
        dispatcher.observers.append(CallLog(names, access=settings.access_log))
        if settings.metrics:
            from trunkline.metrics.rest import RestMetrics

            dispatcher.observers.append(RestMetrics(names))
        if settings.journal_size > 0:
            self.journal = JournalWriter(
                store.journal, clock, size=settings.journal_size, flush_ms=settings.journal_flush_ms
            )
            dispatcher.observers.append(JournalObserver(self.journal, clock))
            self.journal.start()
        self.control = ControlPlane(store.control, store.accounts, settings, clock.now)
        self.clock_service = ClockService(store.values, clock)
        self.control.followers.append(self.clock_service.sync)  # a virtual clock's offset
        await self.control.start(dispatcher)
        self.rest = RestApp(
            dispatcher,
            max_body=settings.max_body_bytes,
            max_nesting=settings.max_nesting,
            max_vars=settings.max_input_vars,
        )
        if settings.event_delivery == "inprocess":
            deliverer.start()
        if self.tune_gc:
            settle_collector()

    async def shutdown(self) -> None:
        if self.journal is not None:
            await self.journal.stop()
            self.journal = None
        if self.deliverer is not None:
            await self.deliverer.stop()
            self.deliverer = None
        if self.poster is not None:
            await self.poster.close()
            self.poster = None
        if self.services is not None:
            await self.services.simulator.stop()
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
            # 16 hex digits (docs/operations.md); a log id, not a secret: no getrandom call.
            token = request_id.set(f"{getrandbits(64):016x}")
            try:
                await self._http(scope, receive, _with_request_id(send, request_id.get()))
            finally:
                request_id.reset(token)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"].lstrip("/")
        if path == "rest/upload.json" and self.services is not None:
            limit = self.settings.record_max_bytes
            await upload(self.services.recordings, limit, scope, receive, send)
            return
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
        report["engine"] = await self.engine_state() if ok else {"mode": "unknown"}
        redis_ok = report.get("redis") in (None, "ok", "not configured")
        report = {"status": "ok" if ok and redis_ok else "degraded", **report}
        # Redis down: still serving (unless fail-closed), so still healthy to a balancer.
        serving = ok and (redis_ok or not self.settings.redis_fail_closed)
        return JSONResponse(report, status_code=200 if serving else 503)

    async def metrics(self, request: Request) -> Response:
        """Prometheus' text exposition (every process's values with ``serve``)."""
        from trunkline.metrics.exposition import CONTENT_TYPE, render

        return Response(render(), media_type=CONTENT_TYPE)

    async def engine_state(self) -> dict[str, Any]:
        """The SIP engine as ``/health`` shows it: where it runs and, while it runs, its
        registrar listeners, cloud lines by outcome and counters (the engine in this
        worker, else the one the ``processes`` table records, this node's first)."""
        mode = engine_mode(self.settings)
        if self.engine is not None:
            return {"mode": mode, "running": True, "pid": os.getpid(), **self.engine.state()}
        store: Store = self._started(self.store)
        records = await store.processes.live(ENGINE)
        records.sort(key=lambda r: r.node != store.processes.node)
        if not records:
            return {"mode": mode, "running": False}
        return {"mode": mode, "running": True, "pid": records[0].pid, **records[0].data}

    def _journal_service(self) -> JournalService:
        store: Store = self._started(self.store)
        return JournalService(store.journal, self.journal)

    def _snapshot_service(self) -> SnapshotService:
        store: Store = self._started(self.store)
        services: ServiceBundle = self._started(self.services)
        return SnapshotService(store.snapshots, store.accounts, services.lines)

    async def reseed(
        self, base: str, password_hash: str | None, only: str | None = None
    ) -> dict[str, Any]:
        """After an operator's reset: the start-up seed and ``seed_file``'s portal again
        (``only``: just the one with that domain)."""
        store: Store = self._started(self.store)
        return await reseed(
            store,
            self.settings,
            self.url,
            base,
            password_hash=password_hash,
            only=only,
            ids=self.ids,
        )

    async def _event_base(self) -> str:
        """The base URL events name as their endpoints: ``public_url``, else the URL the
        running ``serve`` recorded, else ``http://<host>:<port>`` of the settings."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        if self._base is not None:
            return self._base
        store: Store = self._started(self.store)
        for record in await store.processes.live(SERVER):
            url = record.data.get("url")
            if isinstance(url, str) and url:
                self._base = url.rstrip("/")
                return self._base
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{self.settings.port}"

    # -- what the console reads (web/console/) ---------------------------------------

    def console_service(self) -> ConsoleService:
        store: Store = self._started(self.store)
        return ConsoleService(ConsoleReads(store.driver), store.accounts, self.clock)

    def console_secret(self) -> bytes:
        return secret_key(self.settings, self.url).encode()

    def control_service(self) -> ControlService:
        return self._control_service()

    def journal_service(self) -> JournalService:
        return self._journal_service()

    def method_names(self) -> list[str]:
        return [m.name for m in self.registry]

    def registration_service(self) -> RegistrationService:
        store: Store = self._started(self.store)
        return RegistrationService(store.history, store.registrations)

    def _control_service(self) -> ControlService:
        store: Store = self._started(self.store)
        return ControlService(store.control, store.accounts)

    @staticmethod
    def _started(part: Any) -> Any:
        assert part is not None, "the application has not started"
        return part


def _with_request_id(send: Any, value: str) -> Any:
    """``send`` adding ``X-Request-Id: value`` to the response's headers."""
    header = (b"x-request-id", value.encode())

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return sending


def create_app(settings: Settings | None = None) -> TrunklineApp:
    """The ASGI factory uvicorn calls in each worker (settings from the environment)."""
    app = TrunklineApp(settings or Settings.from_env())
    app.tune_gc = True  # a server process of its own (tests build apps without this)
    return app
