"""Queries over the call statistics (``voximplant.statistic.get``) as values (no I/O).

:data:`STAT_FIELDS` is the whitelist every FILTER key and SORT value goes through: the
wire name and the column of the ``call_statistics`` table. ``CALL_TYPE`` filters but does
not sort (the core's column is ``INCOMING``); ``CALL_START_DATE`` takes ISO-8601 values,
compared as instants. A field that is not here can never reach SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trunkline.domain.query import PAGE_SIZE, Condition, Field

STAT_FIELDS: dict[str, Field] = {
    "ID": Field("id", "int"),
    "CALL_ID": Field("call_id", "str"),
    "EXTERNAL_CALL_ID": Field("external_call_id", "str"),
    "CALL_CATEGORY": Field("category", "str"),
    "PORTAL_USER_ID": Field("portal_user_id", "int"),
    "PORTAL_NUMBER": Field("portal_number", "str"),
    "PHONE_NUMBER": Field("phone_number", "str"),
    "CALL_TYPE": Field("call_type", "int"),
    "CALL_DURATION": Field("duration", "int"),
    "CALL_START_DATE": Field("started_at", "date"),
    "CALL_LOG": Field("call_log", "str"),
    "CALL_RECORD_URL": Field("record_url", "str"),
    "CALL_VOTE": Field("vote", "int"),
    "COST": Field("cost", "float"),
    "COST_CURRENCY": Field("cost_currency", "str"),
    "CALL_FAILED_CODE": Field("failed_code", "str"),
    "CALL_FAILED_REASON": Field("failed_reason", "str"),
    "CRM_ENTITY_TYPE": Field("crm_entity_type", "str"),
    "CRM_ENTITY_ID": Field("crm_entity_id", "int"),
    "CRM_ACTIVITY_ID": Field("crm_activity_id", "int"),
    "REST_APP_ID": Field("rest_app_id", "int"),
    "REST_APP_NAME": Field("rest_app_name", "str"),
    "TRANSCRIPT_ID": Field("transcript_id", "int"),
    "TRANSCRIPT_PENDING": Field("transcript_pending", "str"),
    "SESSION_ID": Field("session_id", "int"),
    "REDIAL_ATTEMPT": Field("redial_attempt", "int"),
    "COMMENT": Field("comment", "str"),
    "RECORD_DURATION": Field("record_duration", "int"),
}
UNSORTABLE = frozenset({"CALL_TYPE"})


@dataclass(slots=True)
class StatQuery:
    """A filtered, ordered page of one portal's call statistics. ``users`` set: only the
    calls of these users are visible (a caller without the right to see everyone's)."""

    portal_id: int
    users: tuple[int, ...] | None = None
    conditions: list[Condition] = field(default_factory=list)
    sort: Field | None = None
    descending: bool = False
    offset: int = 0
    limit: int = PAGE_SIZE
    count: bool = True  # False (start=-1): no total
