"""``telephony.externalCall.register``, ``.finish``, ``.show``, ``.hide``: the wire side.

Rules (the pages', and the core's order of checks where they are silent):

* ``register`` and ``finish`` work in an application's context
  (``methods/app_context.py``): 403 ``WRONG_AUTH_TYPE`` first.
* ``register`` then reads the user: ``USER_ID`` (PHP ``intval``), or when that is 0 the
  active user whose ``UF_PHONE_INNER`` is ``USER_PHONE_INNER``; neither gives
  "USER_ID or USER_PHONE_INNER should be set". Then "Unknown TYPE", then a non-empty
  ``CALL_START_DATE`` that is not ISO-8601 ("CALL_START_DATE should be in the ISO-8601
  format"; a date without an offset is in the portal's zone), then the service's checks.
  The sentences are the core's (the page's table adds a full stop its example lacks).
* ``register`` answers ``CALL_ID``, ``CRM_CREATED_LEAD`` (an integer or null),
  ``CRM_CREATED_ENTITIES`` (``ENTITY_TYPE``/``ENTITY_ID``), ``CRM_ENTITY_TYPE`` (``""``
  when none), ``CRM_ENTITY_ID`` (an integer or null), and ``LEAD_CREATION_ERROR`` only
  when a lead could not be made.
* ``finish`` reads the user the same way, then ``CALL_ID``, which must be a string
  (400 ``INVALID_ARGUMENT`` "CALL_ID must be a string"). It answers the statistics row as
  the core builds it, in its key order: ``PORTAL_USER_ID``, ``CALL_DURATION``,
  ``CALL_STATUS``, ``CALL_VOTE`` and ``ID`` integers, ``INCOMING`` the call type as a
  string, ``COST`` a number, ``CALL_START_DATE`` an empty object (the core's date object
  serialised, as the page's example shows; ``voximplant.statistic.get`` has the date),
  ``REST_APP_NAME`` false for a webhook's call, and ``CRM_ENTITY_TYPE``/``CRM_ENTITY_ID``
  only for a call bound to CRM. ``RECORD_URL`` (deprecated) is kept as the row's
  ``CALL_RECORD_URL`` and never fetched.
* ``show``/``hide``: ``true`` for a live call of the portal, ``false`` otherwise (a
  finished call, an unknown or non-string CALL_ID); ``USER_ID`` may be one id or a list.
* Parameters that should be strings refuse arrays (400 ``ERROR_ARGUMENT``), as everywhere;
  PHONE_NUMBER and EXTERNAL_CALL_ID longer than their 255-character columns too. An id
  beyond 32 bits names nothing (a user: "User is not found or is not active").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from trunkline.domain.calls import CallEnd, CallRecord, CrmRef, CrmType, to_cost
from trunkline.domain.dates import parse_date
from trunkline.domain.external import call_type
from trunkline.domain.php import boolval, intval
from trunkline.errors import ArgumentError, InvalidArgumentError, RefusedError
from trunkline.methods.app_context import AppContext, app_context
from trunkline.methods.voximplant_sip import id_param, text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result
from trunkline.services.external_calls import NO_USER as NOT_ACTIVE
from trunkline.services.external_calls import Caller, Registration

SCOPE = "telephony"
NO_USER = "USER_ID or USER_PHONE_INNER should be set"
ID_MAX = 2**31 - 1  # ids are 32-bit columns: a larger one names nothing
TEXT_MAX = 255  # PHONE_NUMBER, EXTERNAL_CALL_ID: the columns' length


def _bounded(params: dict[str, Any], name: str) -> str | None:
    """A string parameter that must fit its column (400 ``ERROR_ARGUMENT`` otherwise)."""
    text = text_param(params, name)
    if text is not None and len(text) > TEXT_MAX:
        raise ArgumentError(f"Parameter {name} is longer than {TEXT_MAX} characters", name)
    return text


def caller_of(context: AppContext) -> Caller:
    return Caller(context.rest_app_id, context.rest_app_name, context.client_id)


async def user_of(call: Call, params: dict[str, Any]) -> int:
    """USER_ID, else the active user with USER_PHONE_INNER; refused when neither."""
    user_id = id_param(params, "USER_ID")
    if user_id == 0:
        inner = text_param(params, "USER_PHONE_INNER") or ""
        user_id = await call.services.external_calls.user_by_phone_inner(
            call.principal.portal.id, inner
        )
    if user_id <= 0:
        raise RefusedError(NO_USER)
    if user_id > ID_MAX:
        raise RefusedError(NOT_ACTIVE)
    return user_id


def _crm_entity(params: dict[str, Any]) -> CrmRef | None:
    kind = text_param(params, "CRM_ENTITY_TYPE")
    entity_id = id_param(params, "CRM_ENTITY_ID")
    if not kind or not 0 < entity_id <= ID_MAX or kind.upper() not in CrmType.__members__:
        return None
    return CrmRef(CrmType(kind.upper()), entity_id)


def _optional_id(params: dict[str, Any], name: str) -> int | None:
    value = id_param(params, name)
    return value if 0 < value <= ID_MAX else None


def registered_item(call: Any) -> dict[str, Any]:
    crm = call.crm
    lead = next((ref.id for ref in call.crm_created if ref.type is CrmType.LEAD), None)
    item: dict[str, Any] = {
        "CALL_ID": call.call_id,
        "CRM_CREATED_LEAD": lead,
        "CRM_CREATED_ENTITIES": [
            {"ENTITY_TYPE": ref.type.value, "ENTITY_ID": ref.id} for ref in call.crm_created
        ],
        "CRM_ENTITY_TYPE": "" if crm is None else crm.type.value,
        "CRM_ENTITY_ID": None if crm is None else crm.id,
    }
    if call.lead_error:
        item["LEAD_CREATION_ERROR"] = call.lead_error
    return item


async def register_call(call: Call) -> Result:
    params = upper_keys(call.params)
    context = await app_context(call)
    user_id = await user_of(call, params)
    kind = call_type(params.get("TYPE"))
    if kind is None:
        raise RefusedError("Unknown TYPE")
    started_at: float | None = None
    start_text = text_param(params, "CALL_START_DATE")
    if start_text:
        started_at = parse_date(start_text.strip(), call.principal.portal.timezone)
        if started_at is None:
            raise RefusedError("CALL_START_DATE should be in the ISO-8601 format")
    registration = Registration(
        user_id=user_id,
        phone_number=_bounded(params, "PHONE_NUMBER") or "",
        call_type=kind,
        started_at=started_at,
        line_number=text_param(params, "LINE_NUMBER") or "",
        external_call_id=_bounded(params, "EXTERNAL_CALL_ID"),
        crm_create=boolval(params.get("CRM_CREATE")) or boolval(params.get("CRM")),
        crm_source=text_param(params, "CRM_SOURCE") or "",
        crm_entity=_crm_entity(params),
        call_list_id=_optional_id(params, "CALL_LIST_ID"),
    )
    live, _ = await call.services.external_calls.register(
        call.principal.portal,
        caller_of(context),
        registration,
        cause_user=call.principal.user.user_id,
    )
    return Result(registered_item(live))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def finished_item(record: CallRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "CALL_ID": record.call_id,
        "EXTERNAL_CALL_ID": record.external_call_id,
        "PORTAL_USER_ID": record.portal_user_id,
        "PHONE_NUMBER": record.phone_number,
        "PORTAL_NUMBER": record.portal_number,
        "INCOMING": str(int(record.call_type)),
        "CALL_DURATION": record.duration,
        "CALL_START_DATE": {},
        "CALL_STATUS": record.status,
        "CALL_VOTE": record.vote or 0,
        "COST": _number(record.cost),
        "COST_CURRENCY": record.cost_currency,
        "CALL_FAILED_CODE": record.failed_code,
        "CALL_FAILED_REASON": record.failed_reason,
        "REST_APP_ID": None if record.rest_app_id is None else str(record.rest_app_id),
        "REST_APP_NAME": record.rest_app_name if record.rest_app_id is not None else False,
        "CRM_ACTIVITY_ID": record.crm_activity_id,
        "COMMENT": record.comment,
    }
    if record.crm is not None:
        item["CRM_ENTITY_TYPE"] = record.crm.type.value
        item["CRM_ENTITY_ID"] = record.crm.id
    item["ID"] = record.id
    return item


async def finish(call: Call) -> Result:
    params = upper_keys(call.params)
    context = await app_context(call)
    user_id = await user_of(call, params)
    call_id = params.get("CALL_ID")
    if not isinstance(call_id, str):
        raise InvalidArgumentError("CALL_ID must be a string")
    end = CallEnd(
        user_id=user_id,
        duration=max(0, intval(text_param(params, "DURATION"))),
        cost=to_cost(text_param(params, "COST")),
        cost_currency=(text_param(params, "COST_CURRENCY") or "")[:16],
        status_code=text_param(params, "STATUS_CODE") or "",
        failed_reason=text_param(params, "FAILED_REASON") or "",
        vote=max(0, min(5, intval(text_param(params, "VOTE")))),
        record_url=text_param(params, "RECORD_URL") or None,
    )
    record = await call.services.external_calls.finish(
        call.principal.portal, caller_of(context), call_id, end
    )
    return Result(finished_item(record))


async def _card(call: Call) -> Result:
    params = upper_keys(call.params)
    call_id = params.get("CALL_ID")
    if not isinstance(call_id, str | int) or isinstance(call_id, bool):
        return Result(False)
    shown = await call.services.external_calls.shown(call.principal.portal, str(call_id))
    return Result(shown)


async def show(call: Call) -> Result:
    return await _card(call)


async def hide(call: Call) -> Result:
    return await _card(call)


async def search_crm_entities(call: Call) -> Result:
    """``searchCrmEntities``: "PHONE_NUMBER is empty", else the entities with the number
    (contacts, leads, companies) and their responsible users (``TIMEMAN_STATUS``
    ``NOT_INSTALLED``: Trunkline has no time tracking; the phones it does not keep are
    null)."""
    params = upper_keys(call.params)
    phone = text_param(params, "PHONE_NUMBER") or ""
    if phone == "":
        raise RefusedError("PHONE_NUMBER is empty")
    found = await call.services.crm.search(call.principal.portal.id, phone)
    items = []
    for entity, user in found:
        items.append(
            {
                "CRM_ENTITY_TYPE": entity.type.value,
                "CRM_ENTITY_ID": entity.id,
                "ASSIGNED_BY_ID": entity.assigned_by,
                "NAME": entity.name,
                "ASSIGNED_BY": {
                    "ID": str(entity.assigned_by),
                    "TIMEMAN_STATUS": "NOT_INSTALLED",
                    "USER_PHONE_INNER": None if user is None else user.phone_inner,
                    "WORK_PHONE": None,
                    "PERSONAL_PHONE": None,
                    "PERSONAL_MOBILE": None,
                },
            }
        )
    return Result(items)


def register(registry: Registry) -> None:
    registry.add("telephony.externalCall.register", register_call, scope=SCOPE)
    registry.add("telephony.externalCall.finish", finish, scope=SCOPE)
    registry.add("telephony.externalCall.show", show, scope=SCOPE)
    registry.add("telephony.externalCall.hide", hide, scope=SCOPE)
    registry.add("telephony.externalCall.searchCrmEntities", search_crm_entities, scope=SCOPE)
