"""Business rules of OAuth applications, user passwords and the SIP connector.

Rules:

* An application is registered once (``local.<hex>.<hex>`` for a local app,
  ``app.<hex>.<hex>`` for a market app) with its scopes (known scopes only;
  default ``telephony``), an optional handler URL and redirect URI (absolute
  ``http``/``https`` URLs without a fragment). Its client secret is shown once
  and stored as a hash.
* Installing it on a portal, as an active user of that portal, issues that user
  a token pair and queues ``ONAPPINSTALL`` for the handler URL in the events outbox,
  in the install's transaction (the deliverer posts it: ``services/outbox.py``);
  reinstalling revokes every earlier token and removes the app's event handlers.
  Uninstalling keeps the tokens, whose use then answers ``APPLICATION_NOT_FOUND``,
  and queues ``ONAPPUNINSTALL`` (with ``data[CLEAN]`` and the application token, no
  access token) the same way. :meth:`AppService.drain_events` delivers what this
  service queued, at once, in this process (the CLI reports how it went).
* ``restrict`` limits an install to some users of the portal (an empty list
  lifts the limit); the others get ``user_access_error`` and cannot sign in.
* The connector's free minutes are a non-negative integer; a paid-until date
  exists only while the connector is paid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from trunkline.auth import passwords
from trunkline.auth.oauth import endpoints, token_answer
from trunkline.auth.tokens import fresh_tokens, hash_secret, new_client_id, new_client_secret
from trunkline.auth.tokens import token_pair as make_token_pair
from trunkline.domain.clock import Clock
from trunkline.domain.ids import SYSTEM, Ids
from trunkline.domain.portals import (
    APP_STATUSES,
    KNOWN_SCOPES,
    Application,
    Connector,
    Installation,
    Portal,
    User,
)
from trunkline.domain.principal import Principal
from trunkline.events.delivery import Delivery
from trunkline.events.forms import event_form
from trunkline.services.events import EventService
from trunkline.services.outbox import Deliverer
from trunkline.settings import Settings
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.apps import AppRepository
from trunkline.storage.driver import Connection

DEFAULT_SCOPES = ("telephony",)


class AppError(ValueError):
    """An operator mistake (unknown app, user or scope; bad URL): a message to show."""


@dataclass(frozen=True, slots=True)
class CreatedApp:
    app: Application
    client_secret: str  # shown once


@dataclass(slots=True)
class Installed:
    installation: Installation
    app: Application
    portal: Portal
    user: User
    auth: dict[str, Any]  # the auth[...] block of ONAPPINSTALL
    form: list[tuple[str, str]]  # the whole ONAPPINSTALL body
    event: int | None = None  # the ONAPPINSTALL outbox row, when a handler URL is set


def check_url(url: str, what: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise AppError(f"{what} must be an absolute http(s) URL without a #fragment: {url!r}")
    return url


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise AppError(f"unknown scope {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    return tuple(dict.fromkeys(scopes)) or DEFAULT_SCOPES


class AppService:
    def __init__(
        self,
        apps: AppRepository,
        accounts: AccountRepository,
        settings: Settings,
        *,
        clock: Clock,
        events: EventService,
        deliverer: Deliverer | None = None,
        ids: Ids = SYSTEM,
    ) -> None:
        self.repo = apps
        self.accounts = accounts
        self.settings = settings
        self.events = events
        self.deliverer = deliverer
        self.clock = clock
        self._queued: list[int] = []  # outbox rows queued here, for drain_events
        self.ids = ids  # client ids, secrets, tokens (seeded: reproducible)

    # -- applications ----------------------------------------------------------

    async def create_app(
        self,
        *,
        kind: str = "local",
        title: str = "",
        scopes: Sequence[str] = DEFAULT_SCOPES,
        handler_url: str = "",
        redirect_uri: str = "",
        code: str = "",
        status: str = "",
        scope: str = "",
    ) -> CreatedApp:
        """Register an application; ``scope`` names the portal it is made for (the stream
        of seeded ids its client id and secret come from)."""
        if kind not in ("local", "market"):
            raise AppError("kind must be local or market")
        status = status or ("L" if kind == "local" else "F")
        if status not in APP_STATUSES:
            raise AppError(f"status must be one of {', '.join(APP_STATUSES)}")
        client_id = new_client_id(kind, self.ids, scope)
        secret = new_client_secret(self.ids, scope)
        app = await self.repo.create_app(
            client_id,
            hash_secret(secret),
            title=title,
            code=code or client_id,
            status=status,
            scopes=check_scopes(scopes),
            handler_url=check_url(handler_url, "the handler URL"),
            redirect_uri=check_url(redirect_uri, "the redirect URI"),
        )
        return CreatedApp(app, secret)

    async def app(self, client_id: str) -> Application:
        app = await self.repo.app_by_client_id(client_id)
        if app is None:
            raise AppError(f"no application {client_id!r}")
        return app

    async def list_apps(self) -> list[Application]:
        return await self.repo.list_apps()

    async def delete_app(self, client_id: str) -> tuple[Application, int]:
        """Delete an application with its installs, codes and tokens (they cascade);
        the application and how many installs it had."""
        app = await self.app(client_id)
        return app, await self.repo.delete_app(app.id)

    async def installations(self, portal: Portal) -> list[tuple[Installation, Application]]:
        """The applications installed (or uninstalled) on ``portal``, oldest first."""
        return await self.repo.list_installations(portal.id)

    async def installation(self, portal: Portal, client_id: str) -> Installation:
        return (await self._installed(portal, client_id))[1]

    async def _installed(self, portal: Portal, client_id: str) -> tuple[Application, Installation]:
        app = await self.app(client_id)
        installation = await self.repo.installation(portal.id, app.id)
        if installation is None:
            raise AppError(f"{client_id} is not installed on {portal.domain}")
        return app, installation

    # -- install, restrict, uninstall ------------------------------------------

    async def install(self, portal: Portal, client_id: str, user_id: int, base: str) -> Installed:
        """Install for ``user_id``; its tokens and ONAPPINSTALL event in one transaction."""
        app = await self.app(client_id)
        user = await self.accounts.get_user(portal.id, user_id)
        if user is None or not user.active:
            raise AppError(f"portal {portal.domain} has no active user {user_id}")
        now = self.clock.now()
        application_token = self.ids.token_hex(16, portal.domain)
        access, refresh, stored = fresh_tokens(
            now,
            access_ttl=self.settings.access_token_ttl,
            refresh_ttl=self.settings.refresh_token_ttl,
            ids=self.ids,
            scope=portal.domain,
        )
        pair = make_token_pair(access, refresh, stored, user.user_id, app.scopes, now)
        where = await endpoints(self.accounts, portal, self.settings.public_url or base)
        auth = token_answer(pair, portal, app, where)
        auth["domain"] = portal.domain  # events name the portal, token answers the server
        auth["application_token"] = application_token
        data = {"VERSION": str(app.version), "ACTIVE": "Y", "INSTALLED": "Y"}
        data["LANGUAGE_ID"] = portal.language
        queued: list[int] = []

        async def then(conn: Connection, install_id: int) -> None:
            await self.repo.issue_in(conn, install_id, user.user_id, app.scopes, stored, now)
            if app.handler_url:
                queued.append(
                    await self.events.enqueue(
                        conn, portal.id, install_id, "ONAPPINSTALL", app.handler_url, data, auth
                    )
                )

        installation = await self.repo.install(
            portal.id, app.id, user.user_id, application_token, now, then=then
        )
        form = event_form("ONAPPINSTALL", installation.id, data, now, auth)
        installed = Installed(installation, app, portal, user, auth, form)
        if queued:
            installed.event = queued[0]
            self._queued += queued
        return installed

    async def restrict(
        self, portal: Portal, client_id: str, user_ids: Sequence[int]
    ) -> Installation:
        installation = await self.installation(portal, client_id)
        for user_id in user_ids:
            if await self.accounts.get_user(portal.id, user_id) is None:
                raise AppError(f"portal {portal.domain} has no user {user_id}")
        await self.repo.set_allowed_users(installation.id, user_ids)
        updated = await self.repo.installation_by_id(installation.id)
        assert updated is not None
        return updated

    async def uninstall(
        self, portal: Portal, client_id: str, *, clean: bool = False, base: str = ""
    ) -> Installation:
        """Uninstall, queueing ONAPPUNINSTALL in the same transaction. ``clean`` is the
        user's "delete the application's data" choice, sent as ``data[CLEAN]``."""
        app, installation = await self._installed(portal, client_id)
        token = await self.repo.application_token(installation.id)
        queued: list[int] = []
        hook: Callable[[Connection], Awaitable[None]] | None = None
        if app.handler_url and installation.active:
            where = await endpoints(self.accounts, portal, self.settings.public_url or base)
            auth = {
                "domain": portal.domain,
                "client_endpoint": where.client_endpoint,
                "server_endpoint": where.server_endpoint,
                "member_id": portal.member_id,
                "application_token": token or "",
            }
            data = {"CLEAN": "1" if clean else "0"}

            async def queue(conn: Connection) -> None:
                queued.append(
                    await self.events.enqueue(
                        conn,
                        portal.id,
                        installation.id,
                        "ONAPPUNINSTALL",
                        app.handler_url,
                        data,
                        auth,
                    )
                )

            hook = queue

        await self.repo.uninstall(installation.id, then=hook)
        self._queued += queued
        updated = await self.repo.installation_by_id(installation.id)
        assert updated is not None
        return updated

    async def drain_events(self) -> list[Delivery]:
        """Deliver, in this process, the events this service queued (bounded by their
        timeouts and retries); how each delivery ended."""
        queued, self._queued = self._queued, []
        if not queued or self.deliverer is None:
            return []  # no deliverer here: the server's posts them
        settings = self.settings
        first = settings.event_retry_delay_ms / 1000
        waits = sum(first * 2**n for n in range(settings.event_retries))
        budget = (settings.event_timeout + 1) * (settings.event_retries + 1) + waits + 2
        return await self.deliverer.deliver_now(queued, self.clock.monotonic() + budget)

    # -- what the REST methods read ----------------------------------------------

    async def calling_app(self, principal: Principal) -> tuple[Application, Installation] | None:
        if principal.app_id is None:
            return None
        app = await self.repo.app_by_client_id(principal.app_id)
        if app is None:
            return None
        installation = await self.repo.installation(principal.portal.id, app.id)
        return (app, installation) if installation is not None else None

    async def connector(self, portal: Portal) -> Connector:
        return await self.repo.connector(portal.id)

    # -- operator settings -----------------------------------------------------

    async def set_connector(
        self,
        portal: Portal,
        *,
        free_minutes: int | None = None,
        paid: bool | None = None,
        paid_until: float | None = None,
    ) -> Connector:
        current = await self.repo.connector(portal.id)
        minutes = current.free_minutes if free_minutes is None else free_minutes
        if minutes < 0:
            raise AppError("free minutes cannot be negative")
        is_paid = current.paid if paid is None else paid
        until = current.paid_until if paid_until is None else paid_until
        if paid_until is not None and not is_paid:
            raise AppError("a paid-until date needs a paid connector (--paid)")
        connector = Connector(minutes, is_paid, until if is_paid else None)
        await self.repo.set_connector(portal.id, connector)
        return connector

    async def user(self, portal: Portal, who: str) -> User:
        """A user by numeric id or login."""
        user = await self.accounts.get_user(portal.id, int(who)) if who.isdigit() else None
        user = user or await self.accounts.user_by_login(portal.id, who)
        if user is None:
            raise AppError(f"portal {portal.domain} has no user {who!r}")
        return user

    async def set_password(self, portal: Portal, who: str, password: str) -> User:
        user = await self.user(portal, who)
        try:
            hashed = passwords.hash_password(password)
        except passwords.WeakPasswordError as exc:
            raise AppError(str(exc)) from exc
        await self.accounts.set_password_hash(portal.id, user.user_id, hashed)
        return user
