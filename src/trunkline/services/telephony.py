"""Business rules of the portal's lines as one list, the default outgoing line, and users'
SIP phones (``voximplant.line.*``, ``voximplant.user.*``).

Rules (the docs pages, checked against the PHP core; ``docs/builtin-telephony.md``):

* ``line.get`` lists every SIP line of the portal whatever application added it (the
  core's config table is not scoped by application), keyed ``reg<REG_ID>`` or
  ``sip<CONFIG_ID>``, named by TITLE or the core's default name. External lines of
  applications are not listed: the core calls ``GetPortalNumbers(false)``, which leaves
  out the applications' numbers.
* ``outgoing.set`` stores LINE_ID only when it is one of those lines, an external line's
  NUMBER (the core checks against its fuller list) or ``LINK_BASE_NUMBER``; anything else
  changes nothing, and the method still answers 1.
* ``outgoing.sip.set`` takes any line of the portal by CONFIG_ID; none: 400
  ``ERROR_ARGUMENT`` "Specified CONFIG_ID is not found".
* ``outgoing.get`` answers the stored line while it exists; when it was never set or the
  line was deleted since, ``LINK_BASE_NUMBER`` (the core keeps the option and falls back
  when it reads it; a line made later with the same key is the default again).
* Users' phone settings may be read and changed by administrators for every user and by
  other users for themselves only ("User settings - modify": all for administrators, own
  for employees). ``user.get`` keeps the permitted ids; none left: 403 ``ACCESS_DENIED``.
  An application (not a webhook) also needs the administrator's confirmation (the
  ``user_get_confirmation`` setting).
* Activating a phone makes its SIP password the first time (12 hex digits from the one
  source of randomness); deactivating keeps the password and drops the phone's bindings
  at the registrar, so the phone is refused at its next REGISTER.
"""

from __future__ import annotations

from collections.abc import Sequence

from trunkline.domain.portals import Portal
from trunkline.domain.principal import OAUTH, Principal
from trunkline.domain.telephony import (
    LINK_BASE_NUMBER,
    OUTGOING_LINE,
    SIP_PASSWORD_BYTES,
    UserPhone,
    line_key,
    line_name,
)
from trunkline.errors import (
    AccessDeniedError,
    MethodConfirmDeniedError,
    MethodConfirmWaitingError,
    OutgoingConfigNotFoundError,
    UserSettingsError,
)
from trunkline.services.calls import CallService
from trunkline.services.lines import incoming_server
from trunkline.settings import Settings
from trunkline.storage.telephony import TelephonyRepository

NOT_ALLOWED = "You are not allowed to modify user's settings"
NO_PERMISSION = "Access denied! You have no permission to query selected users"


class TelephonyService:
    def __init__(self, repo: TelephonyRepository, settings: Settings, calls: CallService) -> None:
        self.repo = repo
        self.settings = settings
        self.calls = calls  # its ``ids`` is the one source of randomness

    # -- lines ----------------------------------------------------------------------

    async def lines(self, portal: Portal) -> dict[str, str]:
        """``voximplant.line.get``: line key -> name."""
        return {
            line_key(kind, config_id, reg_id): line_name(kind, config_id, title)
            for kind, config_id, reg_id, title in await self.repo.line_names(portal.id)
        }

    async def _selectable(self, portal: Portal, line_id: str) -> bool:
        """Whether ``line_id`` may be the default outgoing line: a SIP line's key or an
        external line's NUMBER (the core's fuller list, ``GetPortalNumbers(true, true)``)."""
        if line_id in await self.lines(portal):
            return True
        return line_id in await self.repo.external_numbers(portal.id)

    async def outgoing_line(self, portal: Portal) -> str:
        stored = await self.repo.option(portal.id, OUTGOING_LINE)
        if stored and await self._selectable(portal, stored):
            return stored
        return LINK_BASE_NUMBER

    async def set_outgoing_line(self, portal: Portal, line_id: str) -> bool:
        """Store ``line_id`` when it names a line (or the base number); False: unchanged."""
        if line_id != LINK_BASE_NUMBER and not await self._selectable(portal, line_id):
            return False
        await self.repo.set_option(portal.id, OUTGOING_LINE, line_id)
        return True

    async def keys_by_config(self, portal: Portal, config_id: int) -> list[str]:
        """The key of the line with CONFIG_ID (empty when there is none)."""
        return [
            line_key(kind, found, reg_id)
            for kind, found, reg_id, _ in await self.repo.line_names(portal.id)
            if found == config_id
        ]

    async def set_outgoing_config(self, portal: Portal, config_id: int) -> str:
        """Make the line with CONFIG_ID the default outgoing line; its key."""
        if config_id > 0:
            for kind, found, reg_id, _ in await self.repo.line_names(portal.id):
                if found == config_id:
                    key = line_key(kind, found, reg_id)
                    await self.repo.set_option(portal.id, OUTGOING_LINE, key)
                    return key
        raise OutgoingConfigNotFoundError()

    # -- users' SIP phones -------------------------------------------------------------

    def sip_server(self) -> str:
        """``SIP_SERVER``: where the office registrar answers (as office lines show it)."""
        return incoming_server(self.settings)

    @staticmethod
    def may_modify(principal: Principal, user_id: int) -> bool:
        return principal.user.is_admin or principal.user.user_id == user_id

    async def user_phones(self, principal: Principal, user_ids: Sequence[int]) -> list[UserPhone]:
        allowed = [u for u in user_ids if self.may_modify(principal, u)]
        if not allowed:
            raise AccessDeniedError(NO_PERMISSION)
        if principal.auth_type == OAUTH:
            answer = self.settings.user_get_confirmation
            if answer == "waiting":
                raise MethodConfirmWaitingError()
            if answer == "denied":
                raise MethodConfirmDeniedError()
        return await self.repo.phones(principal.portal.id, allowed)

    async def set_phone(self, principal: Principal, user_id: int, *, enabled: bool) -> None:
        if not self.may_modify(principal, user_id):
            raise UserSettingsError(NOT_ALLOWED)
        portal = principal.portal
        if not await self.repo.phones(portal.id, [user_id]):
            return  # the core updates no row for a user that does not exist, and answers 1
        password = self.calls.ids.token_hex(SIP_PASSWORD_BYTES, portal.domain)
        await self.repo.set_phone(portal.id, user_id, enabled=enabled, new_password=password)
