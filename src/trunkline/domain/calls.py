"""Calls: a call's life and the statistics record its end leaves (no I/O).

A call is registered (``init``), may be answered (``start``), and ends (``finish``). While
it lives it is a :class:`LiveCall`; its end writes one :class:`CallRecord`, the row
``voximplant.statistic.get`` lists, and the live call is gone (``show``/``hide`` answer
false, a new registration makes a new call). Who makes the call is a field, not a type:

* ``origin``: what made it (:class:`CallOrigin`: an app's ``externalCall.register``, the
  operator's simulator, ``voximplant.callback.start``, ``voximplant.infocall.*``);
* ``line_kind`` and ``portal_number``: the line it went through (:class:`LineKind`; the
  line key is an external line's NUMBER, ``REST_APP:<app id>``, ``reg<REG_ID>``,
  ``sip<CONFIG_ID>`` or a rented number, as the real statistics show it);
* ``call_type``: 1 outgoing, 2 incoming, 3 incoming with redirect, 4 callback, 5 info call.

Rules written here:

* CALL_IDs are ``<prefix>.<32 lower-case hex>.<unix seconds>`` (:func:`make_call_id`;
  ``externalCall``, ``callback``, ``infocall``), the hex drawn by the caller's one source
  of randomness.
* A call ends with a status code: given, or ``"200"`` when it lasted, else ``"304"``
  (:func:`default_status`); ``CALL_STATUS`` is 1 when it lasted, else 0.
* A cost is kept to four decimals (:func:`to_cost`): ``"100.00"`` and ``100`` are equal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from trunkline.domain.values import request_value

# The status codes the docs list for finish (the core stores any string).
STATUS_CODES = (
    "200",
    "304",
    "603",
    "603-S",
    "403",
    "404",
    "486",
    "484",
    "503",
    "480",
    "402",
    "423",
    "OTHER",
)
STATUS_CODE_MAX = 255
CALL_ID_HEX = 32


class CallType(enum.IntEnum):
    OUTGOING = 1
    INCOMING = 2
    INCOMING_REDIRECT = 3
    CALLBACK = 4
    INFOCALL = 5


class CallOrigin(enum.StrEnum):
    """What made the call."""

    REST_APP = "rest_app"  # telephony.externalCall.register (or the click simulator)
    SIMULATED = "simulated"  # the operator's call simulator on a built-in line
    CALLBACK = "callback"  # voximplant.callback.start
    INFOCALL = "infocall"  # voximplant.infocall.*


class LineKind(enum.StrEnum):
    """The kind of line a call went through (the key is ``portal_number``)."""

    EXTERNAL = "external"  # an application's external line (telephony.externalLine.*)
    REST_APP = "rest_app"  # an application with no line: PORTAL_NUMBER "REST_APP:<id>"
    SIP = "sip"  # a voximplant SIP line: reg<REG_ID> (cloud) or sip<CONFIG_ID> (office)
    RENTED = "rented"  # a rented number


class CallCategory(enum.StrEnum):
    """``CALL_CATEGORY`` of the statistics: with the outside world, or between users."""

    EXTERNAL = "external"
    INTERNAL = "internal"


class CrmType(enum.StrEnum):
    CONTACT = "CONTACT"
    COMPANY = "COMPANY"
    LEAD = "LEAD"


@dataclass(frozen=True, slots=True)
class CrmRef:
    """A CRM entity a call is bound to (or created for it)."""

    type: CrmType
    id: int


def make_call_id(prefix: str, hex32: str, now: float) -> str:
    """``externalCall.716f1cb73def9700a23842adf9c4c568.1773130779``."""
    return f"{prefix}.{hex32}.{int(now)}"


@dataclass(slots=True)
class NewCall:
    """What a call is registered with. ``answered_by`` set: the call counts as started
    at once (an external call starts when it is registered)."""

    call_id: str
    call_type: CallType
    origin: CallOrigin
    line_kind: LineKind
    portal_number: str
    user_id: int
    phone_number: str
    started_at: float
    line_id: int | None = None
    rest_app_id: int | None = None
    rest_app_name: str | None = None
    external_call_id: str | None = None
    portal_user_id: int | None = None  # the user an internal number belongs to
    crm_enabled: bool = True
    crm: CrmRef | None = None  # the primary entity
    crm_bindings: tuple[CrmRef, ...] = ()  # every entity the call is bound to
    crm_created: tuple[CrmRef, ...] = ()  # entities created for the call
    lead_error: str | None = None
    answered_by: int | None = None
    session_id: int | None = None
    redial_attempt: int | None = None
    comment: str | None = None
    call_list_id: int | None = None

    @property
    def category(self) -> CallCategory:
        return CallCategory.EXTERNAL if self.portal_user_id is None else CallCategory.INTERNAL


@dataclass(slots=True)
class LiveCall(NewCall):
    """A registered call that has not ended."""

    portal_id: int = 0
    id: int = 0
    answered_at: float | None = None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


@request_value
class CallEnd:
    """How a call ended (``telephony.externalCall.finish`` or the simulator)."""

    user_id: int  # PORTAL_USER_ID of the record: who finished it
    duration: int = 0
    cost: Decimal = Decimal(0)
    cost_currency: str = ""
    status_code: str = ""  # "": the default rule
    failed_reason: str = ""
    vote: int = 0
    record_url: str | None = None

    @property
    def code(self) -> str:
        return (self.status_code or default_status(self.duration))[:STATUS_CODE_MAX]


def default_status(duration: int) -> str:
    """The STATUS_CODE of a call that gave none: 200 when it lasted, else 304 (missed)."""
    return "200" if duration > 0 else "304"


_NO_COST = Decimal(0).quantize(Decimal("0.0001"))  # Decimal('0.0000'); Decimals are immutable
_COST_LIMIT = Decimal(10) ** 14
_COST_PLACES = Decimal("0.0001")


def to_cost(value: object) -> Decimal:
    """A cost as four-decimal Decimal (PHP's float cast of the parameter: junk is 0)."""
    if value is None or value == "":  # no COST: the usual case
        return _NO_COST
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    if not cost.is_finite() or abs(cost) >= _COST_LIMIT:
        return Decimal(0)
    return cost.quantize(_COST_PLACES)


@dataclass(slots=True)
class CallRecord:
    """One row of the call statistics (``voximplant.statistic.get``)."""

    id: int
    portal_id: int
    call_id: str
    call_type: CallType
    category: CallCategory
    origin: CallOrigin
    portal_user_id: int
    portal_number: str
    phone_number: str
    duration: int
    started_at: float
    cost: Decimal = Decimal(0)
    cost_currency: str = ""
    failed_code: str = ""
    failed_reason: str = ""
    vote: int | None = None
    external_call_id: str | None = None
    call_log: str | None = None
    record_url: str | None = None
    crm: CrmRef | None = None
    crm_activity_id: int | None = None
    rest_app_id: int | None = None
    rest_app_name: str | None = None
    transcript_id: int | None = None
    transcript_pending: bool = False
    session_id: int | None = None
    redial_attempt: int | None = None
    comment: str | None = None
    record_duration: int | None = None
    record_file_id: int | None = None
    line_id: int | None = None
    crm_created: tuple[CrmRef, ...] = field(default_factory=tuple)

    @property
    def status(self) -> int:
        """``CALL_STATUS``: 1 when the call lasted, else 0."""
        return 1 if self.duration > 0 else 0


def ended(call: LiveCall, end: CallEnd, crm_activity_id: int | None) -> CallRecord:
    """The statistics record a live call leaves when it ends (id 0 until stored)."""
    return CallRecord(
        id=0,
        portal_id=call.portal_id,
        call_id=call.call_id,
        call_type=call.call_type,
        category=call.category,
        origin=call.origin,
        portal_user_id=end.user_id,
        portal_number=call.portal_number,
        phone_number=call.phone_number,
        duration=max(0, end.duration),
        started_at=call.started_at,
        cost=end.cost,
        cost_currency=end.cost_currency,
        failed_code=end.code,
        failed_reason=end.failed_reason,
        vote=end.vote,
        external_call_id=call.external_call_id,
        record_url=end.record_url or None,
        crm=call.crm,
        crm_activity_id=crm_activity_id,
        rest_app_id=call.rest_app_id,
        rest_app_name=call.rest_app_name,
        session_id=call.session_id,
        redial_attempt=call.redial_attempt,
        comment=call.comment,
        line_id=call.line_id,
        crm_created=call.crm_created,
    )


@request_value
class RecentKey:
    """What makes a new registration the same call as a live one registered within the
    re-registration window (``telephony.externalCall.register``)."""

    user_id: int
    phone_number: str
    call_type: CallType
    rest_app_id: int | None
    since: float  # registered (started) after this moment
    line_id: int | None = None  # compared only when given
    external_call_id: str | None = None  # compared only when given


RECENT_WINDOW = 30 * 60  # seconds: a re-registration within this returns the live call


# -- the data of the call events (every value a string, as the form carries it) --------

EVENT_CALL_INIT = "ONVOXIMPLANTCALLINIT"
EVENT_CALL_START = "ONVOXIMPLANTCALLSTART"
EVENT_CALL_END = "ONVOXIMPLANTCALLEND"


def float_text(value: Decimal) -> str:
    """A PHP float as PHP prints it: ``100`` for 100.0, ``12.5`` for 12.5."""
    if value == value.to_integral_value():
        return str(int(value))
    return str(float(value))


def init_data(call: NewCall) -> dict[str, str]:
    """``ONVOXIMPLANTCALLINIT``: an application's call carries ``REST_APP_ID`` (empty for a
    webhook's); a call on a SIP line or rented number names the line
    (``ACCOUNT_SEARCH_ID``); an incoming one the line as PHONE_NUMBER and the client as
    CALLER_ID, an outgoing one the other way round (the page's example)."""
    data = {
        "CALL_ID": call.call_id,
        "CALL_TYPE": str(int(call.call_type)),
        "CALLER_ID": call.phone_number,
    }
    if call.line_kind in (LineKind.EXTERNAL, LineKind.REST_APP):
        data["REST_APP_ID"] = "" if call.rest_app_id is None else str(call.rest_app_id)
    elif call.call_type is CallType.INCOMING or call.call_type is CallType.INCOMING_REDIRECT:
        # The page: PHONE_NUMBER is the number the subscriber called, CALLER_ID theirs.
        data["ACCOUNT_SEARCH_ID"] = call.portal_number
        data["PHONE_NUMBER"] = call.portal_number
    else:  # outgoing, callback, info call: the number dialled, from the line (CALLER_ID)
        data["ACCOUNT_SEARCH_ID"] = call.portal_number
        data["PHONE_NUMBER"] = call.phone_number
        data["CALLER_ID"] = call.portal_number
    return data


def start_data(call_id: str, user_id: int) -> dict[str, str]:
    """``ONVOXIMPLANTCALLSTART``: the call and who answered it."""
    return {"CALL_ID": call_id, "USER_ID": str(user_id)}


def end_data(record: CallRecord, start_date: str) -> dict[str, str]:
    """``ONVOXIMPLANTCALLEND``: the statistics fields (``start_date`` is ISO-8601)."""
    return {
        "CALL_ID": record.call_id,
        "CALL_TYPE": str(int(record.call_type)),
        "PHONE_NUMBER": record.phone_number,
        "PORTAL_NUMBER": record.portal_number,
        "PORTAL_USER_ID": str(record.portal_user_id),
        "CALL_DURATION": str(record.duration),
        "CALL_START_DATE": start_date,
        "COST": float_text(record.cost),
        "COST_CURRENCY": record.cost_currency,
        "CALL_FAILED_CODE": record.failed_code,
        "CALL_FAILED_REASON": record.failed_reason,
        "CRM_ACTIVITY_ID": "" if record.crm_activity_id is None else str(record.crm_activity_id),
    }
