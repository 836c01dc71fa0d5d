"""Business rules of SIP lines (``voximplant-sip.md`` §3–§8).

Rules:

* Every line method needs the "Manage numbers - modify" right (administrators always
  have it): 403 ``ACCESS_DENIED`` "Access denied!". The registry declares it
  (``Right.MODIFY_LINES``) and the dispatcher checks it once per call, before the
  handler reads any parameter; the methods here trust their caller.
* Field checks are collected, then reported together as one
  ``CHECK_FIELDS_ERROR`` joined by ``"<br> "``, in the order TYPE, SERVER, LOGIN,
  PASSWORD. SERVER is trimmed and loses every ``http://``/``https://``; SERVER
  and LOGIN must be non-empty; SERVER, LOGIN and the raw PASSWORD are at most
  100 characters; PASSWORD is stored trimmed.
* TITLE is unique among all lines of the portal (any type, any application);
  at most ten cloud lines per portal. Both are checked under the portal's lock.
* Lines are scoped by application: an app sees its own lines, a webhook only
  lines with no application. The scope is always ANDed onto any user filter.
* ``update`` of SERVER/LOGIN/PASSWORD resets REGISTRATION_STATUS_CODE to 0; a
  TITLE-only update leaves it alone; an update with none of the four fields
  changes nothing and succeeds.
* After an add, a credential update or a delete has committed, every observer
  (the in-process SIP engine) is told, so the line registers, re-registers or
  unregisters at once.
* A new office line's INCOMING_SERVER is where this server's registrar answers
  (:func:`incoming_server`); a real PBX elsewhere needs the ``incoming_server`` setting.
* ``status`` finds a cloud line by REG_ID in the caller's portal, whatever its
  application; an unknown REG_ID or an office line is 400 ``REG_ID_NOT_FOUND``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from trunkline.domain.ids import SYSTEM, Ids
from trunkline.domain.lines import (
    FIELD_MAX_LENGTH,
    MAX_CLOUD_LINES,
    TITLE_MAX_LENGTH,
    LineChanges,
    LineType,
    NewLine,
    SipLine,
)
from trunkline.domain.portals import Portal
from trunkline.domain.principal import Principal
from trunkline.domain.query import LineQuery
from trunkline.errors import (
    CheckFieldsError,
    ConfigNotFoundError,
    MaxCloudPbxError,
    RegIdNotFoundError,
    TitleExistsError,
)
from trunkline.settings import Settings
from trunkline.storage.driver import DuplicateError
from trunkline.storage.lines import LineRepository

# Message catalogue: the public reference's wording ("doc") and the PHP module's
# English language file ("core"); the `error_texts` setting picks one.
MESSAGES: dict[str, dict[str, str]] = {
    "doc": {
        "type": "PBX type is not specified.",
        "server_empty": "Server address not specified",
        "server_long": "Server address must not exceed 100 characters.",
        "login_empty": "Login for connecting to the server not specified",
        "login_long": "Server login must not exceed 100 characters.",
        "password_long": "Password for connecting to the server cannot exceed 100 characters",
        "title_long": "Connection name must not exceed 255 characters.",
        "title_exists": "The specified connection name is already registered in the system",
        "max_cloud": "You cannot connect more than 10 virtual PBXs.",
        "reg_not_found": "Settings not found",
    },
    "core": {
        "type": "PBX type is not specified.",
        "server_empty": "Server address is not specified.",
        "server_long": "Server address must not exceed 100 characters.",
        "login_empty": "Server login is not specified.",
        "login_long": "Server login must not exceed 100 characters.",
        "password_long": "Server password must not exceed 100 characters.",
        "title_long": "Connection name must not exceed 255 characters.",
        "title_exists": "The specified connection name is already used in the system.",
        "max_cloud": "You cannot connect more than 10 cloud hosted PBX's.",
        "reg_not_found": "Configuration was not found.",
    },
}


def clean_server(server: str) -> str:
    return server.strip().replace("http://", "").replace("https://", "")


@dataclass(slots=True)
class LineInput:
    """Raw field values as strings (None: not given), before the checks."""

    type: str | None = None
    title: str | None = None
    server: str | None = None
    login: str | None = None
    password: str | None = None


def incoming_server(settings: Settings) -> str:
    """INCOMING_SERVER of new office lines: the ``incoming_server`` setting, else the
    office registrar's address as a PBX on this machine reaches it (``127.0.0.1`` when it
    listens on every interface; ``:port`` unless 5060)."""
    if settings.incoming_server:
        return settings.incoming_server
    host = settings.sip_host if settings.sip_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if settings.sip_port in (0, 5060):
        return host
    return f"[{host}]:{settings.sip_port}" if ":" in host else f"{host}:{settings.sip_port}"


class LineObserver(Protocol):
    """Told after a line was added, had its SERVER/LOGIN/PASSWORD changed, or was deleted."""

    def line_changed(self, portal_id: int, config_id: int) -> None: ...


class LineService:
    def __init__(self, lines: LineRepository, settings: Settings, *, ids: Ids = SYSTEM) -> None:
        self.repo = lines
        self.ids = ids  # INCOMING_PASSWORDs (seeded: reproducible)
        self.settings = settings
        self.texts = MESSAGES.get(settings.error_texts, MESSAGES["doc"])
        self.observers: list[LineObserver] = []

    def _notify(self, portal_id: int, config_id: int) -> None:
        for observer in self.observers:
            observer.line_changed(portal_id, config_id)

    def incoming_server(self, portal: Portal) -> str:
        return incoming_server(self.settings)

    def _check(self, fields: LineInput, *, types: tuple[str, ...], partial: bool) -> list[str]:
        """Collected field errors, in the core's order (TYPE, SERVER, LOGIN, PASSWORD)."""
        t = self.texts
        errors: list[str] = []
        if fields.type not in types:
            errors.append(t["type"])
        if fields.server is not None or not partial:
            server = clean_server(fields.server or "")
            if not server:
                errors.append(t["server_empty"])
            elif len(server) > FIELD_MAX_LENGTH:
                errors.append(t["server_long"])
        if fields.login is not None or not partial:
            login = (fields.login or "").strip()
            if not login:
                errors.append(t["login_empty"])
            elif len(login) > FIELD_MAX_LENGTH:
                errors.append(t["login_long"])
        if fields.password is not None and len(fields.password) > FIELD_MAX_LENGTH:
            errors.append(t["password_long"])
        if fields.title is not None and len(fields.title.strip()) > TITLE_MAX_LENGTH:
            errors.append(t["title_long"])  # our own rule: the column holds 255
        return errors

    def touched(self, portal_id: int, config_ids: list[int]) -> None:
        """Lines changed behind the methods' back (a portal deleted or restored)."""
        for config_id in config_ids:
            self._notify(portal_id, config_id)

    async def all(self, portal: Portal) -> list[SipLine]:
        """Every line of the portal, whichever application owns it (the operator API)."""
        return await self.repo.all_lines(portal.id)

    # -- voximplant.sip.get ----------------------------------------------------

    async def list(
        self, principal: Principal, query: LineQuery, *, sort_error: Exception | None = None
    ) -> tuple[int, list[SipLine]]:
        """(total, page). The page is not read when nothing matches, so a bad SORT or
        ORDER (``sort_error``) fails only when some line matches, as in the core."""

        def check(total: int) -> None:
            if total and sort_error is not None:
                raise sort_error

        return await self.repo.list_lines(query, on_count=check)

    def query(self, principal: Principal, **kwargs: Any) -> LineQuery:
        return LineQuery(portal_id=principal.portal.id, app_id=principal.app_id, **kwargs)

    # -- voximplant.sip.add ----------------------------------------------------

    async def add(self, principal: Principal, fields: LineInput) -> SipLine:
        fields.type = (fields.type or "cloud").lower()
        errors = self._check(fields, types=("cloud", "office"), partial=False)
        if errors:
            raise CheckFieldsError(errors)
        new = NewLine(
            type=LineType(fields.type),
            title=(fields.title or "").strip(),
            server=clean_server(fields.server or ""),
            login=(fields.login or "").strip(),
            password=None if fields.password is None else fields.password.strip(),
            app_id=principal.app_id or "",
        )
        async with self.repo.line_writer(principal.portal.id) as writer:
            if new.type is LineType.CLOUD and await writer.count_cloud_lines() >= MAX_CLOUD_LINES:
                raise MaxCloudPbxError(self.texts["max_cloud"])
            # A taken TITLE is refused by the partial unique index (uq_lines_title): the
            # same exact match title_taken() makes, without a query of its own.
            try:
                line = await writer.insert(
                    new,
                    incoming_server=self.incoming_server(principal.portal),
                    incoming_password=self.ids.token_hex(16, principal.portal.domain),
                )
            except DuplicateError as exc:
                raise TitleExistsError(self.texts["title_exists"]) from exc
        self._notify(line.portal_id, line.config_id)
        return line

    # -- voximplant.sip.update -------------------------------------------------

    async def update(self, principal: Principal, config_id: int, fields: LineInput) -> None:
        portal_id = principal.portal.id
        if (
            config_id <= 0
            or await self.repo.get_line(portal_id, principal.app_id, config_id) is None
        ):
            raise ConfigNotFoundError(http_status=404)
        changes = LineChanges(
            title=None if fields.title is None else fields.title.strip(),
            server=None if fields.server is None else clean_server(fields.server),
            login=None if fields.login is None else fields.login.strip(),
            password=None if fields.password is None else fields.password.strip(),
        )
        if changes.empty:
            return
        fields.type = "cloud" if fields.type is None else fields.type
        errors = self._check(fields, types=("cloud", "office"), partial=True)
        if errors:
            raise CheckFieldsError(errors)
        async with self.repo.line_writer(portal_id) as writer:
            if changes.title is not None and await writer.title_taken(
                changes.title, except_config_id=config_id
            ):
                raise TitleExistsError(self.texts["title_exists"])
            try:
                await writer.update(config_id, changes)
            except DuplicateError as exc:
                raise TitleExistsError(self.texts["title_exists"]) from exc
        if changes.credentials_changed:
            self._notify(portal_id, config_id)

    # -- voximplant.sip.delete -------------------------------------------------

    async def delete(self, principal: Principal, config_id: int) -> None:
        portal_id = principal.portal.id
        if (
            config_id <= 0
            or await self.repo.get_line(portal_id, principal.app_id, config_id) is None
        ):
            raise ConfigNotFoundError(http_status=400)
        async with self.repo.line_writer(portal_id) as writer:
            if not await writer.delete(config_id):
                raise ConfigNotFoundError(http_status=400)
        self._notify(portal_id, config_id)

    # -- voximplant.sip.status -------------------------------------------------

    async def status(self, principal: Principal, reg_id: int) -> SipLine:
        """The cloud line registered as REG_ID (any application of the portal)."""
        line = None
        if reg_id > 0:
            line = await self.repo.line_by_reg_id(principal.portal.id, reg_id)
        if line is None:  # line_by_reg_id looks among cloud lines only
            raise RegIdNotFoundError(self.texts["reg_not_found"])
        return line
