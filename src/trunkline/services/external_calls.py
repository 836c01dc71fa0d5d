"""Business rules of the calls an application reports (``telephony.externalCall.*``).

Rules (the core's ``registerExternalCall``/``finishExternalCall``, ``domain/external.py``):

* ``register`` checks the client's number ("Unsupported phone number format"), then the
  user ("User is not found or is not active"); then, in one transaction: the app's line
  for LINE_NUMBER (made when missing), the re-registration check (an existing live call
  is answered as it is: no new call, no event), the CRM binding (the given
  ``CRM_ENTITY_TYPE``/``CRM_ENTITY_ID``, else the CRM's match for the number; a number
  that is a user's inner number is an internal call, without CRM), the lead that
  ``CRM_CREATE`` asks for when nothing matched, and the call itself, which raises
  ``OnVoximplantCallInit`` and ``OnVoximplantCallStart`` (an external call starts when
  it is registered).
* ``finish`` ends a live call of the portal ("Call is not found ...": none, or already
  ended): the statistics row ``voximplant.statistic.get`` lists, and
  ``OnVoximplantCallEnd`` in the same transaction. The user finishing it must be active.
* ``show`` and ``hide`` answer whether the call lives (cards are not drawn here).
"""

from __future__ import annotations

from typing import Protocol

from trunkline.domain.calls import (
    RECENT_WINDOW,
    CallEnd,
    CallOrigin,
    CallRecord,
    CallType,
    CrmRef,
    LineKind,
    LiveCall,
    NewCall,
    RecentKey,
)
from trunkline.domain.external import ExternalLine, client_phone, rest_app_number
from trunkline.domain.portals import Portal, User
from trunkline.domain.values import request_value
from trunkline.errors import RefusedError
from trunkline.services.calls import CallService
from trunkline.services.external_lines import ExternalLineService
from trunkline.settings import Settings
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.driver import Connection

BAD_PHONE = "Unsupported phone number format"
NO_USER = "User is not found or is not active"
NOT_REGISTERED = {
    # the English page; the core's sentence lacks the closing parenthesis
    "doc": "Call is not found (call should be registered prior to finishing)",
    "core": "Call is not found (call should be registered prior to finishing",
}


@request_value
class Caller:
    """The application a call is reported by (None: a webhook's "no application")."""

    rest_app_id: int | None
    rest_app_name: str | None
    client_id: str | None


@request_value
class Registration:
    user_id: int
    phone_number: str  # as given; the core's stripping is applied here
    call_type: CallType
    started_at: float | None = None  # None: now
    line_number: str = ""
    external_call_id: str | None = None
    crm_create: bool = False
    crm_source: str = ""
    crm_entity: CrmRef | None = None
    call_list_id: int | None = None


@request_value
class CrmMatch:
    """What the CRM binds a call to: the primary entity, every bound entity, and what
    was created for the call (with the error of a lead that could not be)."""

    primary: CrmRef | None = None
    bindings: tuple[CrmRef, ...] = ()
    created: tuple[CrmRef, ...] = ()
    lead_error: str | None = None


class CallCrm(Protocol):
    """The CRM as a registration sees it (``services/crm.py``)."""

    async def match(
        self,
        conn: Connection,
        portal_id: int,
        phone: str,
        *,
        create_lead: bool,
        user_id: int,
        source: str,
    ) -> CrmMatch: ...


class NoCrm:
    """A portal without CRM: nothing matches, nothing is created."""

    async def match(
        self,
        conn: Connection,
        portal_id: int,
        phone: str,
        *,
        create_lead: bool,
        user_id: int,
        source: str,
    ) -> CrmMatch:
        return CrmMatch()


class ExternalCallService:
    def __init__(
        self,
        calls: CallService,
        lines: ExternalLineService,
        accounts: AccountRepository,
        settings: Settings,
        crm: CallCrm | None = None,
    ) -> None:
        self.calls = calls
        self.lines = lines
        self.accounts = accounts
        self.settings = settings
        self.crm: CallCrm = crm or NoCrm()

    async def active_user(self, portal_id: int, user_id: int) -> User:
        user = await self.accounts.get_user(portal_id, user_id)
        if user is None or not user.active:
            raise RefusedError(NO_USER)
        return user

    async def user_by_phone_inner(self, portal_id: int, phone_inner: str) -> int:
        """The active user with this inner number; 0 when there is none."""
        if not phone_inner:
            return 0
        user = await self.accounts.user_by_phone_inner(portal_id, phone_inner)
        return 0 if user is None else user.user_id

    async def register(
        self, portal: Portal, caller: Caller, reg: Registration, *, cause_user: int = 0
    ) -> tuple[LiveCall, bool]:
        """The registered call, and whether it is new (False: a re-registration)."""
        phone = client_phone(reg.phone_number)
        if not phone:
            raise RefusedError(BAD_PHONE)
        await self.active_user(portal.id, reg.user_id)
        now = self.calls.clock.now()
        internal = await self.accounts.user_by_phone_inner(portal.id, phone)
        async with self.calls.repo.transaction() as tx:
            line = await self.lines.line_for_call(
                portal.id, caller.rest_app_id, reg.line_number, tx
            )
            key = RecentKey(
                user_id=reg.user_id,
                phone_number=phone,
                call_type=reg.call_type,
                rest_app_id=caller.rest_app_id,
                since=now - RECENT_WINDOW,
                line_id=None if line is None else line.id,
                external_call_id=reg.external_call_id,
            )
            existing = await self.calls.recent(portal.id, key)
            if existing is not None:
                return existing, False
            crm = await self._crm(tx, portal.id, phone, reg, internal is not None, line)
            new = NewCall(
                call_id=self.calls.new_call_id("externalCall", portal),
                call_type=reg.call_type,
                origin=CallOrigin.REST_APP,
                line_kind=LineKind.REST_APP if line is None else LineKind.EXTERNAL,
                portal_number=rest_app_number(caller.rest_app_id) if line is None else line.number,
                user_id=reg.user_id,
                phone_number=phone,
                started_at=now if reg.started_at is None else reg.started_at,
                line_id=None if line is None else line.id,
                rest_app_id=caller.rest_app_id,
                rest_app_name=caller.rest_app_name,
                external_call_id=reg.external_call_id,
                portal_user_id=None if internal is None else internal.user_id,
                crm_enabled=internal is None,
                crm=crm.primary,
                crm_bindings=crm.bindings,
                crm_created=crm.created,
                lead_error=crm.lead_error,
                answered_by=reg.user_id,
                call_list_id=reg.call_list_id,
            )
            call = await self.calls.register(
                portal, new, app_id=caller.client_id, cause_user=cause_user, conn=tx
            )
            if call is None:  # pragma: no cover - 128 random bits collided
                raise RefusedError("Unexpected database error")
        return call, True

    async def _crm(
        self,
        conn: Connection,
        portal_id: int,
        phone: str,
        reg: Registration,
        internal: bool,
        line: ExternalLine | None,
    ) -> CrmMatch:
        if internal:
            return CrmMatch()
        if reg.crm_entity is not None:
            return CrmMatch(primary=reg.crm_entity, bindings=(reg.crm_entity,))
        # an outgoing call on a line with CRM_AUTO_CREATE=N creates no lead
        line_allows = line is None or line.crm_auto_create or reg.call_type != CallType.OUTGOING
        return await self.crm.match(
            conn,
            portal_id,
            phone,
            create_lead=reg.crm_create and line_allows,
            user_id=reg.user_id,
            source=reg.crm_source,
        )

    async def finish(
        self, portal: Portal, caller: Caller, call_id: str, end: CallEnd
    ) -> CallRecord:
        """End a live call. The call is looked for first ("Call is not found ..."), then
        the user: the user is read beforehand (kept under the change mark) and refused only
        once the call is found, which rolls its end back."""
        user = await self.accounts.get_user(portal.id, end.user_id)

        def admit(call: LiveCall) -> None:
            if user is None or not user.active:
                raise RefusedError(NO_USER)

        record = await self.calls.finish_live(
            portal, call_id, end, admit=admit, app_id=caller.client_id
        )
        if record is None:  # never registered, or ended already
            raise RefusedError(NOT_REGISTERED[self.settings.error_texts])
        return record

    async def shown(self, portal: Portal, call_id: str) -> bool:
        """Whether ``call_id`` is a live call of the portal (show/hide answer it)."""
        return await self.calls.live(portal.id, call_id) is not None
