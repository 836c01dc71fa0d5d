"""A scenario document: a whole portal as JSON (users, webhooks, apps, lines), checked and built.

``POST /operator/portals`` and ``trunkline serve --seed FILE`` hand a document to
:func:`parse`, then to :meth:`PortalBuilder.build`. The format is described by the JSON
Schema ``docs/scenario.schema.json``; a test checks that the schema and :data:`FIELDS`
name the same fields.

Rules:

* The whole document is checked before anything is written (:class:`ScenarioError`
  names the first wrong field by its path, ``users[1].login``); unknown fields are
  refused, so a typo never goes unnoticed.
* With no ``users`` the portal gets administrator 1 (login ``admin``). A webhook, an
  app's install and a line name a user of the document by ``id`` (default 1); a line
  owned by an application names it by its index in ``apps``.
* Building is all or nothing: when a step fails (a taken domain, a line the line rules
  refuse), the portal and the applications made so far are deleted again.
* The answer carries every secret made, once: webhook codes and URLs, client secrets,
  access, refresh and application tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trunkline.domain.portals import KNOWN_SCOPES, Portal, User
from trunkline.domain.principal import WEBHOOK, Principal
from trunkline.errors import RestError
from trunkline.services.accounts import AccountError, AccountService
from trunkline.services.apps import AppError, AppService
from trunkline.services.crm import CrmInputError, CrmService
from trunkline.services.lines import LineInput, LineService
from trunkline.services.readback import line_answer, webhook_answer


class ScenarioError(ValueError):
    """A scenario document (or one part of it) that cannot be built: a message to show."""


class ScenarioConflictError(ScenarioError):
    """The document is valid but names something that exists already (a portal domain)."""


# object -> field -> (JSON types accepted, required)
FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "portal": {
        "domain": ((str,), True),
        "title": ((str,), False),
        "timezone": ((str,), False),
        "seed_ids": ((int,), False),
        "users": ((list,), False),
        "webhooks": ((list,), False),
        "apps": ((list,), False),
        "lines": ((list,), False),
        "crm": ((list,), False),
    },
    "user": {
        "id": ((int,), False),
        "login": ((str,), True),
        "name": ((str,), False),
        "last_name": ((str,), False),
        "email": ((str,), False),
        "admin": ((bool,), False),
        "line_modify": ((bool,), False),
        "phone_inner": ((str,), False),
    },
    "webhook": {
        "user": ((int,), False),
        "scopes": ((list,), False),
        "title": ((str,), False),
        "code": ((str,), False),
    },
    "app": {
        "kind": ((str,), False),
        "title": ((str,), False),
        "scopes": ((list,), False),
        "handler_url": ((str,), False),
        "redirect_uri": ((str,), False),
        "install": ((bool,), False),
        "user": ((int,), False),
    },
    "line": {
        "type": ((str,), False),
        "title": ((str,), False),
        "server": ((str,), False),
        "login": ((str,), False),
        "password": ((str,), False),
        "app": ((int,), False),
        "client_id": ((str,), False),
    },
    "crm": {
        "type": ((str,), True),
        "name": ((str,), True),
        "phones": ((list,), False),
        "assigned_by": ((int,), False),
        "source": ((str,), False),
    },
}

DEFAULT_USERS: tuple[dict[str, Any], ...] = ({"id": 1, "login": "admin", "admin": True},)
CODE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def checked(data: Any, kind: str, where: str) -> dict[str, Any]:
    """``data`` as an object of ``kind`` (FIELDS), or ScenarioError naming the field."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where or 'the document'} must be a JSON object")
    fields = FIELDS[kind]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ScenarioError(f"unknown field {_at(where, unknown[0])}")
    for name, (types, required) in fields.items():
        if name not in data or data[name] is None:
            if required:
                raise ScenarioError(f"{_at(where, name)} is required")
            continue
        value = data[name]
        wrong_bool = isinstance(value, bool) and bool not in types
        if not isinstance(value, types) or wrong_bool:
            raise ScenarioError(f"{_at(where, name)} must be {_json_type(types)}")
    return data


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _json_type(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "an array"}
    return " or ".join(names[t] for t in types)


def _items(doc: Mapping[str, Any], name: str, kind: str) -> list[dict[str, Any]]:
    return [checked(item, kind, f"{name}[{i}]") for i, item in enumerate(doc.get(name) or [])]


def _scopes(value: Any, where: str) -> list[str]:
    if value is None:
        return ["telephony"]
    if not all(isinstance(s, str) for s in value):
        raise ScenarioError(f"{_at(where, 'scopes')} must be an array of strings")
    unknown = [s for s in value if s not in KNOWN_SCOPES]
    if unknown:
        raise ScenarioError(
            f"{_at(where, 'scopes')}: unknown scope {unknown[0]!r} "
            f"(known: {', '.join(KNOWN_SCOPES)})"
        )
    return list(value) or ["telephony"]


@dataclass
class Scenario:
    """A checked document."""

    domain: str
    title: str = ""
    timezone: str = "UTC"
    seed_ids: int | None = None
    users: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    crm: list[dict[str, Any]] = field(default_factory=list)


def parse(document: Any) -> Scenario:
    """Check a whole document (ScenarioError on the first fault); nothing is written."""
    doc = checked(document, "portal", "")
    domain = doc["domain"].strip().lower()
    if not domain or any(c.isspace() or c in "/?#@" for c in domain):
        raise ScenarioError(f"domain must be a host name, got {doc['domain']!r}")
    seed_ids = doc.get("seed_ids")
    if seed_ids is not None and seed_ids < 0:
        raise ScenarioError("seed_ids must be a non-negative integer")
    users = _items(doc, "users", "user") if "users" in doc else [dict(u) for u in DEFAULT_USERS]
    ids: set[int] = set()
    logins: set[str] = set()
    for i, user in enumerate(users):
        user.setdefault("id", i + 1)
        check_user(user, f"users[{i}]")
        if user["id"] in ids or user["login"] in logins:
            raise ScenarioError(f"users[{i}]: the id or login is taken by an earlier user")
        ids.add(user["id"])
        logins.add(user["login"])
    webhooks = _items(doc, "webhooks", "webhook")
    for i, hook in enumerate(webhooks):
        check_webhook(hook, ids, f"webhooks[{i}]")
    apps = _items(doc, "apps", "app")
    for i, app in enumerate(apps):
        check_app(app, ids, f"apps[{i}]")
    lines = _items(doc, "lines", "line")
    for i, line in enumerate(lines):
        owner = line.get("app")
        if owner is not None and not 0 <= owner < len(apps):
            raise ScenarioError(f"lines[{i}].app must be the index of an entry of apps")
        if owner is not None and not apps[owner]["install"]:
            raise ScenarioError(f"lines[{i}].app names an application that is not installed")
        if owner is not None and line.get("client_id") is not None:
            raise ScenarioError(f"lines[{i}]: give app or client_id, not both")
    crm = _items(doc, "crm", "crm")
    for i, entity in enumerate(crm):
        where = f"crm[{i}]"
        if str(entity["type"]).upper() not in ("CONTACT", "COMPANY", "LEAD"):
            raise ScenarioError(f"{where}.type must be CONTACT, COMPANY or LEAD")
        if not all(isinstance(p, str) for p in entity.get("phones") or []):
            raise ScenarioError(f"{where}.phones must be an array of strings")
        if entity.setdefault("assigned_by", 1) not in ids:
            raise ScenarioError(
                f"{where}.assigned_by: the portal has no user {entity['assigned_by']}"
            )
    return Scenario(
        domain=domain,
        title=doc.get("title") or "",
        timezone=doc.get("timezone") or "UTC",
        seed_ids=seed_ids,
        users=users,
        webhooks=webhooks,
        apps=apps,
        lines=lines,
        crm=crm,
    )


def part(kind: str, data: Any, user_ids: set[int]) -> dict[str, Any]:
    """One user, webhook, app or line for an existing portal whose users are ``user_ids``
    (the operator API's sub-resources), checked as in a document."""
    item = checked(data, kind, "")
    if kind == "user":
        check_user(item, "")
    elif kind == "webhook":
        check_webhook(item, user_ids, "")
    elif kind == "app":
        check_app(item, user_ids, "")
    return item


def check_user(user: dict[str, Any], where: str) -> None:
    if user.get("id") is not None and user["id"] <= 0:
        raise ScenarioError(f"{_at(where, 'id')} must be a positive integer")
    if not user["login"].strip():
        raise ScenarioError(f"{_at(where, 'login')} must not be empty")


def check_webhook(hook: dict[str, Any], user_ids: set[int], where: str) -> None:
    _user(hook, user_ids, where)
    hook["scopes"] = _scopes(hook.get("scopes"), where)
    code = hook.get("code")
    if code is not None and (not 8 <= len(code) <= 32 or set(code) - CODE_CHARACTERS):
        raise ScenarioError(f"{_at(where, 'code')} must be 8 to 32 of [a-z0-9]")


def check_app(app: dict[str, Any], user_ids: set[int], where: str) -> None:
    if app.setdefault("kind", "local") not in ("local", "market"):
        raise ScenarioError(f"{_at(where, 'kind')} must be local or market")
    app["scopes"] = _scopes(app.get("scopes"), where)
    if app.setdefault("install", True):
        _user(app, user_ids, where)


def _user(item: dict[str, Any], ids: set[int], where: str) -> None:
    user = item.setdefault("user", 1)
    if user not in ids:
        raise ScenarioError(f"{_at(where, 'user')}: the portal has no user {user}")


@dataclass
class Built:
    """What :meth:`PortalBuilder.build` made, secrets included (shown once)."""

    portal: Portal
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    crm: list[dict[str, Any]] = field(default_factory=list)


class PortalBuilder:
    """Builds a checked scenario through the services (the same rules as the CLI's)."""

    def __init__(
        self,
        accounts: AccountService,
        apps: AppService,
        lines: LineService,
        crm: CrmService | None = None,
    ) -> None:
        self.accounts = accounts
        self.apps = apps
        self.lines = lines
        self.crm = crm

    async def build(self, scenario: Scenario, base: str) -> Built:
        """Make the portal; ``base`` is the server's URL for webhook URLs and endpoints."""
        if await self.accounts.portal(scenario.domain) is not None:
            raise ScenarioConflictError(f"portal {scenario.domain!r} exists already")
        self.accounts.ids.seed_scope(scenario.domain, scenario.seed_ids)
        try:
            portal = await self.accounts.create_portal(
                scenario.domain, title=scenario.title, timezone=scenario.timezone
            )
        except AccountError as exc:
            raise ScenarioError(f"timezone: {exc}") from None
        made_apps: list[str] = []
        try:
            return await self._fill(portal, scenario, base, made_apps)
        except BaseException:
            await self.accounts.delete_portal(portal)
            for client_id in made_apps:
                await self.apps.delete_app(client_id)
            raise

    async def _fill(
        self, portal: Portal, scenario: Scenario, base: str, made_apps: list[str]
    ) -> Built:
        built = Built(portal)
        for spec in scenario.users:
            await self.add_user(portal, spec)
        for spec in scenario.webhooks:
            built.webhooks.append(await self.add_webhook(portal, spec, base))
        owners: list[str] = []
        for i, spec in enumerate(scenario.apps):
            answer = await self.add_app(portal, spec, base, made_apps, where=f"apps[{i}]")
            built.apps.append(answer)
            owners.append(answer["client_id"])
        for i, spec in enumerate(scenario.lines):
            owner = owners[spec["app"]] if spec.get("app") is not None else spec.get("client_id")
            built.lines.append(await self.add_line(portal, spec, owner, where=f"lines[{i}]"))
        if scenario.crm:
            if self.crm is None:
                raise ScenarioError("crm: this server has no CRM")
            try:
                ids = await self.crm.add_many(portal, scenario.crm)
            except CrmInputError as exc:
                raise ScenarioError(f"crm: {exc}") from None
            built.crm = [{"id": i, **entity} for i, entity in zip(ids, scenario.crm, strict=True)]
        return built

    # -- one part at a time (also the operator API's sub-resources) -------------------

    async def add_user(self, portal: Portal, spec: Mapping[str, Any]) -> User:
        try:
            return await self.accounts.create_user(
                portal,
                spec["login"],
                user_id=spec.get("id"),
                name=spec.get("name") or "",
                last_name=spec.get("last_name") or "",
                email=spec.get("email") or "",
                is_admin=bool(spec.get("admin")),
                line_modify=bool(spec.get("line_modify")),
                phone_inner=spec.get("phone_inner"),
            )
        except AccountError as exc:
            raise ScenarioConflictError(str(exc)) from None

    async def add_webhook(
        self, portal: Portal, spec: Mapping[str, Any], base: str
    ) -> dict[str, Any]:
        try:
            made = await self.accounts.create_webhook(
                portal,
                spec["user"],
                spec["scopes"],
                title=spec.get("title") or "",
                code=spec.get("code"),
            )
        except AccountError as exc:
            raise ScenarioError(str(exc)) from None
        return webhook_answer(made.webhook.id, made.user.user_id, made.code, spec["scopes"], base)

    async def add_app(
        self,
        portal: Portal,
        spec: Mapping[str, Any],
        base: str,
        made: list[str] | None = None,
        *,
        where: str = "",
    ) -> dict[str, Any]:
        """Register an application and, unless ``install`` is false, install it for its
        user; the answer carries the client secret and the install's tokens."""
        standalone = made is None
        made = [] if made is None else made
        try:
            created = await self.apps.create_app(
                scope=portal.domain,
                kind=spec.get("kind") or "local",
                title=spec.get("title") or "",
                scopes=spec.get("scopes") or ["telephony"],
                handler_url=spec.get("handler_url") or "",
                redirect_uri=spec.get("redirect_uri") or "",
            )
            made.append(created.app.client_id)
            answer: dict[str, Any] = {
                "client_id": created.app.client_id,
                "client_secret": created.client_secret,
                "scopes": list(created.app.scopes),
                "installed": False,
            }
            if spec.get("install", True):
                installed = await self.apps.install(
                    portal, created.app.client_id, spec["user"], base
                )
                auth = installed.auth
                answer.update(
                    installed=True,
                    user=installed.user.user_id,
                    access_token=auth["access_token"],
                    refresh_token=auth["refresh_token"],
                    application_token=auth["application_token"],
                    expires=auth["expires"],
                    client_endpoint=auth["client_endpoint"],
                )
        except AppError as exc:
            if standalone and made:  # registered, then the install was refused
                await self.apps.delete_app(made[-1])
            raise ScenarioError(f"{where}: {exc}" if where else str(exc)) from None
        return answer

    async def add_line(
        self, portal: Portal, spec: Mapping[str, Any], owner: str | None, *, where: str = ""
    ) -> dict[str, Any]:
        """A line made as the portal's first administrator (or first user) would make it,
        owned by application ``owner`` when given: the same rules as voximplant.sip.add."""
        if owner is not None:
            try:
                await self.apps.installation(portal, owner)
            except AppError as exc:
                raise ScenarioError(f"{where}: {exc}" if where else str(exc)) from None
        users = [user for user, _ in await self.accounts.users(portal)]
        if not users:
            raise ScenarioError(f"{where}: a line needs a user in the portal")
        maker = next((u for u in users if u.is_admin), users[0])
        principal = Principal(portal, maker, WEBHOOK, frozenset(KNOWN_SCOPES), app_id=owner)
        fields = LineInput(
            spec.get("type"),
            spec.get("title"),
            spec.get("server"),
            spec.get("login"),
            spec.get("password"),
        )
        try:
            line = await self.lines.add(principal, fields)
        except RestError as exc:
            prefix = f"{where}: " if where else ""
            raise ScenarioError(prefix + exc.error_description) from None
        return line_answer(line)
