"""Column lists and row mappers of the call tables, each written once (``storage/calls.py``
reads and writes with them): a live call, a statistics record, and the one-column form of
a list of CRM entities (``CONTACT:7,LEAD:3``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from trunkline.domain.calls import (
    CallCategory,
    CallOrigin,
    CallRecord,
    CallType,
    CrmRef,
    CrmType,
    LineKind,
    LiveCall,
    NewCall,
    to_cost,
)
from trunkline.storage.driver import Row
from trunkline.storage.sql import Dialect

CALL_COLUMNS = (
    "call_id",
    "call_type",
    "origin",
    "line_kind",
    "portal_number",
    "user_id",
    "phone_number",
    "started_at",
    "line_id",
    "rest_app_id",
    "rest_app_name",
    "external_call_id",
    "portal_user_id",
    "crm_enabled",
    "crm_entity_type",
    "crm_entity_id",
    "crm_bindings",
    "crm_created",
    "lead_error",
    "answered_by",
    "session_id",
    "redial_attempt",
    "comment",
    "call_list_id",
)
CALL_ROW = f"id, portal_id, answered_at, {', '.join(CALL_COLUMNS)}"  # call_from_row's order
SELECT_CALLS = f"SELECT {CALL_ROW} FROM calls"
INSERT_CALL = (
    f"INSERT INTO calls (portal_id, {', '.join(CALL_COLUMNS)}, answered_at, created_at)"
    f" VALUES ({', '.join('?' for _ in range(len(CALL_COLUMNS) + 3))})"
    " ON CONFLICT (portal_id, call_id) DO NOTHING RETURNING id"
)

RECORD_COLUMNS = (
    "id",
    "portal_id",
    "call_id",
    "call_type",
    "category",
    "origin",
    "portal_user_id",
    "portal_number",
    "phone_number",
    "duration",
    "started_at",
    "cost",
    "cost_currency",
    "failed_code",
    "failed_reason",
    "vote",
    "external_call_id",
    "call_log",
    "record_url",
    "crm_entity_type",
    "crm_entity_id",
    "crm_activity_id",
    "rest_app_id",
    "rest_app_name",
    "transcript_id",
    "transcript_pending",
    "session_id",
    "redial_attempt",
    "comment",
    "record_duration",
    "record_file_id",
    "line_id",
    "crm_created",
)
SELECT_RECORDS = f"SELECT {', '.join(RECORD_COLUMNS)} FROM call_statistics"
INSERT_COLUMNS = (*RECORD_COLUMNS[1:], "created_at")
INSERT_RECORD = (
    f"INSERT INTO call_statistics ({', '.join(INSERT_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in INSERT_COLUMNS)}) RETURNING id"
)


def crm_text(refs: Sequence[CrmRef]) -> str:
    """``CONTACT:7,LEAD:3``: how a list of CRM entities is kept in one column."""
    return ",".join(f"{ref.type._value_}:{ref.id}" for ref in refs)


def crm_refs(text: str | None) -> tuple[CrmRef, ...]:
    refs = []
    for part in (text or "").split(","):
        kind, _, number = part.partition(":")
        if kind in CrmType.__members__ and number.isdigit():
            refs.append(CrmRef(CrmType(kind), int(number)))
    return tuple(refs)


def crm_ref(kind: str | None, number: int | None) -> CrmRef | None:
    if kind is not None and kind in CrmType.__members__ and number is not None:
        return CrmRef(CrmType(kind), int(number))
    return None


_CALL_TYPES = {int(kind): kind for kind in CallType}
_CATEGORIES = {category.value: category for category in CallCategory}
_ORIGINS = {origin.value: origin for origin in CallOrigin}
_LINE_KINDS = {kind.value: kind for kind in LineKind}


def call_from_row(row: Row) -> LiveCall:
    (row_id, portal_id, answered_at, *values) = row
    fields = dict(zip(CALL_COLUMNS, values, strict=True))
    # The enums through dicts of their members: a lookup, not an Enum call (same members).
    return LiveCall(
        call_id=fields["call_id"],
        call_type=_CALL_TYPES.get(fields["call_type"]) or CallType(fields["call_type"]),
        origin=_ORIGINS.get(fields["origin"]) or CallOrigin(fields["origin"]),
        line_kind=_LINE_KINDS.get(fields["line_kind"]) or LineKind(fields["line_kind"]),
        portal_number=fields["portal_number"],
        user_id=fields["user_id"],
        phone_number=fields["phone_number"],
        started_at=float(fields["started_at"]),
        line_id=fields["line_id"],
        rest_app_id=fields["rest_app_id"],
        rest_app_name=fields["rest_app_name"],
        external_call_id=fields["external_call_id"],
        portal_user_id=fields["portal_user_id"],
        crm_enabled=bool(fields["crm_enabled"]),
        crm=crm_ref(fields["crm_entity_type"], fields["crm_entity_id"]),
        crm_bindings=crm_refs(fields["crm_bindings"]) if fields["crm_bindings"] else (),
        crm_created=crm_refs(fields["crm_created"]) if fields["crm_created"] else (),
        lead_error=fields["lead_error"],
        answered_by=fields["answered_by"],
        session_id=fields["session_id"],
        redial_attempt=fields["redial_attempt"],
        comment=fields["comment"],
        call_list_id=fields["call_list_id"],
        portal_id=portal_id,
        id=row_id,
        answered_at=None if answered_at is None else float(answered_at),
    )


def call_values(portal_id: int, new: NewCall, answered_at: float | None, now: float) -> list[Any]:
    """INSERT_CALL's values: the portal, CALL_COLUMNS in order, answered_at, created_at
    (a list made directly: every registration writes one). Enum members give their
    ``_value_``, what ``.value`` returns through a Python-level property (~1,400
    instructions a read saved)."""
    crm = new.crm
    return [
        portal_id,
        new.call_id,
        int(new.call_type),
        new.origin._value_,
        new.line_kind._value_,
        new.portal_number,
        new.user_id,
        new.phone_number,
        new.started_at,
        new.line_id,
        new.rest_app_id,
        new.rest_app_name,
        new.external_call_id,
        new.portal_user_id,
        new.crm_enabled,
        None if crm is None else crm.type._value_,
        None if crm is None else crm.id,
        crm_text(new.crm_bindings) if new.crm_bindings else "",
        crm_text(new.crm_created) if new.crm_created else "",
        new.lead_error,
        new.answered_by,
        new.session_id,
        new.redial_attempt,
        new.comment,
        new.call_list_id,
        answered_at,
        now,
    ]


@lru_cache(maxsize=4096)
def _cost(value: object) -> Decimal:
    """``to_cost`` of a stored cost; costs repeat, and Decimal quantizing is not free."""
    return to_cost(value)


def record_from_row(row: Row) -> CallRecord:
    """A record from a ``SELECT_RECORDS`` row (columns in RECORD_COLUMNS order; read by
    position: a statistics page decodes 50 of them per call)."""
    (
        row_id,
        portal_id,
        call_id,
        call_type,
        category,
        origin,
        portal_user_id,
        portal_number,
        phone_number,
        duration,
        started_at,
        cost,
        cost_currency,
        failed_code,
        failed_reason,
        vote,
        external_call_id,
        call_log,
        record_url,
        crm_entity_type,
        crm_entity_id,
        crm_activity_id,
        rest_app_id,
        rest_app_name,
        transcript_id,
        transcript_pending,
        session_id,
        redial_attempt,
        comment,
        record_duration,
        record_file_id,
        line_id,
        crm_created,
    ) = row
    return CallRecord(
        id=row_id,
        portal_id=portal_id,
        call_id=call_id,
        call_type=_CALL_TYPES.get(call_type) or CallType(call_type),
        category=_CATEGORIES.get(category) or CallCategory(category),
        origin=_ORIGINS.get(origin) or CallOrigin(origin),
        portal_user_id=portal_user_id,
        portal_number=portal_number,
        phone_number=phone_number,
        duration=duration,
        started_at=float(started_at),
        cost=_cost(cost),
        cost_currency=cost_currency,
        failed_code=failed_code,
        failed_reason=failed_reason,
        vote=vote,
        external_call_id=external_call_id,
        call_log=call_log,
        record_url=record_url,
        crm=None if crm_entity_type is None else crm_ref(crm_entity_type, crm_entity_id),
        crm_activity_id=crm_activity_id,
        rest_app_id=rest_app_id,
        rest_app_name=rest_app_name,
        transcript_id=transcript_id,
        transcript_pending=transcript_pending == "Y",
        session_id=session_id,
        redial_attempt=redial_attempt,
        comment=comment,
        record_duration=record_duration,
        record_file_id=record_file_id,
        line_id=line_id,
        crm_created=crm_refs(crm_created) if crm_created else (),
    )


def record_values(record: CallRecord, now: float) -> list[Any]:
    """INSERT_RECORD's values, INSERT_COLUMNS in order (a list made directly: every
    finished call writes one)."""
    crm = record.crm
    return [
        record.portal_id,
        record.call_id,
        int(record.call_type),
        record.category._value_,
        record.origin._value_,
        record.portal_user_id,
        record.portal_number,
        record.phone_number,
        record.duration,
        record.started_at,
        record.cost,
        record.cost_currency,
        record.failed_code,
        record.failed_reason,
        record.vote,
        record.external_call_id,
        record.call_log,
        record.record_url,
        None if crm is None else crm.type._value_,
        None if crm is None else crm.id,
        record.crm_activity_id,
        record.rest_app_id,
        record.rest_app_name,
        record.transcript_id,
        "Y" if record.transcript_pending else "N",
        record.session_id,
        record.redial_attempt,
        record.comment,
        record.record_duration,
        record.record_file_id,
        record.line_id,
        crm_text(record.crm_created) if record.crm_created else "",
        now,
    ]


def money(value: Decimal | None, dialect: Dialect) -> object:
    """A cost as the driver binds it: a Decimal for asyncpg, text for sqlite3 (which has
    no Decimal adapter; the NUMERIC column stores it as a number)."""
    if value is None or dialect == "postgres":
        return value
    return str(value)
