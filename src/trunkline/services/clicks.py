"""The call simulator's click-to-call and callback form (``OnExternalCallStart``,
``OnExternalCallBackStart``): what a real portal does when a user clicks a number in a
CRM card, or a visitor fills the CRM callback form, with an app as the outgoing line.

Rules (the core's ``startCall``/``startCallBack``):

* The app is chosen by ``client_id``, else by the external line NUMBER given (its owner),
  else it is the one app installed on the portal; several and none chosen is a
  :class:`ClickError`, as is an app not installed or a user who is not active.
* A click registers the call first, as the core does (outgoing, the user's, on the line
  when one was named, ``CRM_CREATE`` as the line's ``CRM_AUTO_CREATE``, the CRM entity of
  the card, no EXTERNAL_CALL_ID), raising ``OnVoximplantCallInit``/``Start``; then it raises
  ``ONEXTERNALCALLSTART`` for that app's install only, with the page's payload
  (``PHONE_NUMBER``, ``PHONE_NUMBER_INTERNATIONAL``, ``EXTENSION``, ``USER_ID``,
  ``CALL_LIST_ID``, ``LINE_NUMBER``, ``IS_MOBILE``, ``CALL_ID``, ``CRM_ENTITY_TYPE``,
  ``CRM_ENTITY_ID``) plus the core's ``CRM_CREATED_LEAD`` and ``CRM_CREATED_ENTITIES``.
* A callback raises ``ONEXTERNALCALLBACKSTART`` (``PHONE_NUMBER``, ``TEXT``, ``VOICE``,
  ``CRM_ENTITY_TYPE``, ``CRM_ENTITY_ID``, ``LINE_NUMBER``) and registers nothing.
* The CRM entity of a click or callback must exist in the portal's CRM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from trunkline.domain.calls import CallType, CrmRef
from trunkline.domain.crm import phone_digits
from trunkline.domain.portals import Application, Installation, Portal
from trunkline.errors import RefusedError
from trunkline.services.apps import AppService
from trunkline.services.crm import CrmService
from trunkline.services.events import EventService
from trunkline.services.external_calls import Caller, ExternalCallService, Registration
from trunkline.services.external_lines import ExternalLineService

EVENT_CLICK = "ONEXTERNALCALLSTART"
EVENT_CALLBACK = "ONEXTERNALCALLBACKSTART"
_EXTENSION = re.compile(r"^(.*?)\s*(?:#|ext\.?|доб\.?)\s*(\d+)$", re.I)


class ClickError(ValueError):
    """A click or callback that cannot be simulated: the message says why."""


@dataclass(frozen=True, slots=True)
class Clicked:
    call_id: str | None
    event: str
    client_id: str
    install_id: int
    data: dict[str, Any]


def international(number: str) -> str:
    """E.164 as far as digits go: ``+`` and the digits (the core parses the country)."""
    digits = phone_digits(number)
    return f"+{digits}" if digits else ""


class ClickService:
    def __init__(
        self,
        calls: ExternalCallService,
        lines: ExternalLineService,
        apps: AppService,
        crm: CrmService,
        events: EventService,
    ) -> None:
        self.calls = calls
        self.lines = lines
        self.apps = apps
        self.crm = crm
        self.events = events

    async def _app(
        self, portal: Portal, client_id: str | None, line: str
    ) -> tuple[Installation, Application]:
        installed = [(i, a) for i, a in await self.apps.installations(portal) if i.active]
        if client_id:
            chosen = [(i, a) for i, a in installed if a.client_id == client_id]
            if not chosen:
                raise ClickError(f"app {client_id} is not installed on {portal.domain}")
            return chosen[0]
        if line:
            lines = await self.lines.by_number(portal.id, line)
            owners = {found.rest_app_id for found in lines}
            chosen = [(i, a) for i, a in installed if a.id in owners]
            if not chosen:
                raise ClickError(f"no installed app has the external line {line}")
            return chosen[0]
        if len(installed) != 1:
            names = ", ".join(a.client_id for _, a in installed) or "none"
            raise ClickError(
                f"choose the app of the outgoing line (installed on {portal.domain}: {names})"
            )
        return installed[0]

    async def _entity(self, portal: Portal, crm: CrmRef | None) -> None:
        if crm is None:
            return
        found = await self.crm.entity(portal.id, crm.id)
        if found is None or found.type is not crm.type:
            raise ClickError(f"the CRM of {portal.domain} has no {crm.type.value}:{crm.id}")

    async def click(
        self,
        portal: Portal,
        user_id: int,
        phone: str,
        *,
        crm: CrmRef | None = None,
        client_id: str | None = None,
        line: str = "",
        call_list_id: int = 0,
        mobile: bool = False,
    ) -> Clicked:
        install, app = await self._app(portal, client_id, line)
        await self._entity(portal, crm)
        found = (await self.lines.lines(portal.id, app.id)) if line else []
        owned = next((item for item in found if item.number == line.strip()), None)
        match = _EXTENSION.match(phone.strip())
        number, extension = (match.group(1), match.group(2)) if match else (phone, "")
        registration = Registration(
            user_id=user_id,
            phone_number=phone,
            call_type=CallType.OUTGOING,
            line_number=line,
            crm_create=owned.crm_auto_create if owned is not None else True,
            crm_entity=crm,
            call_list_id=call_list_id or None,
        )
        try:
            call, _ = await self.calls.register(
                portal, Caller(app.id, app.title, app.client_id), registration, cause_user=user_id
            )
        except RefusedError as exc:
            raise ClickError(exc.error_description) from exc
        data: dict[str, Any] = {
            "PHONE_NUMBER": phone,
            "PHONE_NUMBER_INTERNATIONAL": international(number),
            "EXTENSION": extension,
            "USER_ID": str(user_id),
            "CALL_LIST_ID": str(call_list_id),
            "LINE_NUMBER": line.strip(),
            "IS_MOBILE": "1" if mobile else "0",
            "CALL_ID": call.call_id,
            "CRM_ENTITY_TYPE": "" if call.crm is None else call.crm.type.value,
            "CRM_ENTITY_ID": "" if call.crm is None else str(call.crm.id),
            "CRM_CREATED_LEAD": next(
                (str(r.id) for r in call.crm_created if r.type.value == "LEAD"), ""
            ),
            "CRM_CREATED_ENTITIES": [
                {"ENTITY_TYPE": r.type.value, "ENTITY_ID": str(r.id)} for r in call.crm_created
            ],
        }
        await self.events.fire(portal.id, EVENT_CLICK, data, user_id=user_id, install_id=install.id)
        return Clicked(call.call_id, EVENT_CLICK, app.client_id, install.id, data)

    async def callback(
        self,
        portal: Portal,
        phone: str,
        *,
        text: str = "",
        voice: str = "",
        crm: CrmRef | None = None,
        client_id: str | None = None,
        line: str = "",
        user_id: int = 0,
    ) -> Clicked:
        if not phone_digits(phone):
            raise ClickError(f"{phone!r} is not a phone number")
        install, app = await self._app(portal, client_id, line)
        await self._entity(portal, crm)
        data: dict[str, Any] = {
            "PHONE_NUMBER": phone,
            "TEXT": text,
            "VOICE": voice,
            "CRM_ENTITY_TYPE": "" if crm is None else crm.type.value,
            "CRM_ENTITY_ID": "" if crm is None else str(crm.id),
            "LINE_NUMBER": line.strip(),
        }
        await self.events.fire(
            portal.id, EVENT_CALLBACK, data, user_id=user_id, install_id=install.id
        )
        return Clicked(None, EVENT_CALLBACK, app.client_id, install.id, data)
