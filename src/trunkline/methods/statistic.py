"""``voximplant.statistic.get``: the call statistics, a page of 50 at a time.

Rules (the core's, where the page is silent):

* Top-level keys are case-insensitive. FILTER keys are ``<operator><FIELD>``: the
  operators ``=`` (the default) ``!`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` ``><`` ``!><`` ``?``
  ``%`` ``!%``; a key with another operator, or naming no field of the statistics
  (``domain/statistics.py``), is dropped without an error, as is an empty list. A list
  means "any of"; ``><``/``!><`` take two values. ``CALL_START_DATE`` takes ISO-8601
  (a time without an offset is in the portal's zone); a value that is not a date matches
  nothing. Strings compare case-insensitively, as the real MySQL collation does. A FILTER
  with more than 10,000 values is refused (400 ``ERROR_ARGUMENT``), not sent to the
  database.
* SORT is a field name (exact case, trimmed; ``CALL_TYPE`` does not sort) and ORDER
  exactly ``ASC`` or ``DESC``; only both together sort, otherwise the order is ``ID``.
* ``start`` pages by 50; ``start=-1`` answers the first page with ``total`` 0 and no
  ``next`` (no count).
* Administrators see every call of the portal; any other user only the calls they
  finished (``PORTAL_USER_ID``), Trunkline's stand-in for the "Call Statistics - View"
  permission's "own calls" level.
* Rows are strings as the database gives them (``COST`` with four decimals,
  ``CALL_START_DATE`` ISO-8601 in the portal's zone), except ``RECORD_FILE_ID``, an
  integer or null.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from trunkline.domain.calls import CallRecord, to_cost
from trunkline.domain.dates import iso_date, parse_date
from trunkline.domain.php import intval, strval
from trunkline.domain.query import PAGE_SIZE, Condition, Field, Op, Scalar
from trunkline.domain.statistics import STAT_FIELDS, UNSORTABLE, StatQuery
from trunkline.errors import ArgumentError
from trunkline.methods.sip_filter import parse_search, split_key
from trunkline.methods.voximplant_sip import upper_keys
from trunkline.rest.registry import Call, Registry, Result
from trunkline.rest.responses import FrozenItem, FrozenList

SCOPE = "telephony"
# Values one FILTER may bind (the databases cap a statement's parameters near 32,000).
MAX_FILTER_VALUES = 10_000
OPERATORS = frozenset(
    {
        Op.DEFAULT,
        Op.EQ,
        Op.NOT,
        Op.NE,
        Op.LT,
        Op.LE,
        Op.GT,
        Op.GE,
        Op.BETWEEN,
        Op.NOT_BETWEEN,
        Op.SEARCH,
        Op.CONTAINS,
        Op.NOT_CONTAINS,
    }
)


def _value(item: Any, field: Field, timezone: str) -> Scalar:
    if item is None:
        return None
    if field.kind == "int":
        return intval(item)
    if field.kind == "float":
        return float(to_cost(strval(item)))
    text = (strval(item) or "").replace("\x00", "\ufffd")
    if field.kind == "date":
        return parse_date(text, timezone)
    return text


def parse_filter(raw: Any, timezone: str) -> list[Condition]:
    """FILTER as conditions on the statistics fields (see the module docstring)."""
    if not isinstance(raw, dict):
        return []
    conditions: list[Condition] = []
    bound = 0
    for key, value in raw.items():
        op, name = split_key(str(key).upper())
        field = STAT_FIELDS.get(name)
        if field is None or op not in OPERATORS:
            continue
        if op is Op.SEARCH:
            text = value if isinstance(value, str) else strval(value)
            expr = parse_search((text or "").replace("\x00", "\ufffd"))
            if expr is not None:
                conditions.append(Condition(field, op, (), expr))
            continue
        items = (
            value
            if isinstance(value, list)
            else list(value.values())
            if isinstance(value, dict)
            else [value]
        )
        items = [item for item in items if not isinstance(item, list | dict)]
        if isinstance(value, list | dict) and not items:
            continue
        bound += len(items)
        if bound > MAX_FILTER_VALUES:
            raise ArgumentError(f"FILTER holds more than {MAX_FILTER_VALUES} values", "FILTER")
        values = tuple(_value(item, field, timezone) for item in items)
        if op in (Op.BETWEEN, Op.NOT_BETWEEN) and (len(values) != 2 or None in values):
            continue
        conditions.append(Condition(field, op, values))
    return conditions


def parse_sort(sort: Any, order: Any) -> tuple[Field | None, bool]:
    if not isinstance(sort, str) or not isinstance(order, str):
        return None, False
    name, direction = sort.strip(), order.strip()
    field = STAT_FIELDS.get(name) if name not in UNSORTABLE else None
    if field is None or direction not in ("ASC", "DESC"):
        return None, False
    return field, direction == "DESC"


@lru_cache(maxsize=4096)
def _money(cost: Decimal) -> str:
    """COST as the database gives it: four decimals (costs repeat; formatting is not free)."""
    return f"{cost:.4f}"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


_ITEMS: dict[int, tuple[CallRecord, str, FrozenItem]] = {}
_ITEMS_MAX = 65_536  # more than the rows of the pages storage/calls.py keeps (1,024 x 50)


def listed_item(record: CallRecord, timezone: str) -> FrozenItem:
    """``record_item``, kept per record object and zone: storage hands out the same record
    for as long as its row is unchanged (``storage/calls.py``), so an unchanged row is
    shaped and encoded once. The entry holds the record itself, so an id is never mistaken
    for another's; the items are shared (nothing may mutate them)."""
    entry = _ITEMS.get(id(record))
    if entry is not None and entry[0] is record and entry[1] == timezone:
        return entry[2]
    if len(_ITEMS) >= _ITEMS_MAX:
        _ITEMS.clear()
    item = FrozenItem(record_item(record, timezone))
    _ITEMS[id(record)] = (record, timezone, item)
    return item


_PAGES: dict[int, tuple[tuple[CallRecord, ...], str, FrozenList]] = {}
_PAGES_MAX = 1_024  # the pages storage/calls.py keeps


def listed_page(page: tuple[CallRecord, ...], timezone: str) -> FrozenList:
    """The items of a page, kept per page object and zone as :func:`listed_item` keeps an
    item: storage hands out the same page for as long as no data changed
    (``storage/calls.py``), so an unchanged page is listed and encoded once, and its JSON
    spliced whole into every answer. The entry holds the page, so an id is never mistaken
    for another's; the lists are shared (nothing may mutate them)."""
    entry = _PAGES.get(id(page))
    if entry is not None and entry[0] is page and entry[1] == timezone:
        return entry[2]
    if len(_PAGES) >= _PAGES_MAX:
        _PAGES.clear()
    items = FrozenList([listed_item(record, timezone) for record in page])
    _PAGES[id(page)] = (page, timezone, items)
    return items


def record_item(record: CallRecord, timezone: str) -> dict[str, Any]:
    """A row of ``voximplant.statistic.get``, in the documented key order."""
    crm = record.crm
    return {
        "ID": str(record.id),
        "PORTAL_USER_ID": str(record.portal_user_id),
        "PORTAL_NUMBER": record.portal_number,
        "PHONE_NUMBER": record.phone_number,
        "CALL_ID": record.call_id,
        "EXTERNAL_CALL_ID": record.external_call_id,
        "CALL_CATEGORY": record.category._value_,
        "CALL_LOG": record.call_log,
        "CALL_DURATION": str(record.duration),
        "CALL_START_DATE": iso_date(record.started_at, timezone),
        "CALL_RECORD_URL": record.record_url,
        "CALL_VOTE": _text(record.vote),
        "COST": _money(record.cost),
        "COST_CURRENCY": record.cost_currency,
        "CALL_FAILED_CODE": record.failed_code,
        "CALL_FAILED_REASON": record.failed_reason,
        "CRM_ENTITY_TYPE": None if crm is None else crm.type._value_,
        "CRM_ENTITY_ID": None if crm is None else str(crm.id),
        "CRM_ACTIVITY_ID": _text(record.crm_activity_id),
        "REST_APP_ID": _text(record.rest_app_id),
        "REST_APP_NAME": record.rest_app_name,
        "TRANSCRIPT_ID": _text(record.transcript_id),
        "TRANSCRIPT_PENDING": "Y" if record.transcript_pending else "N",
        "SESSION_ID": _text(record.session_id),
        "REDIAL_ATTEMPT": _text(record.redial_attempt),
        "COMMENT": record.comment,
        "RECORD_DURATION": _text(record.record_duration),
        "RECORD_FILE_ID": record.record_file_id,
        "CALL_TYPE": str(int(record.call_type)),
    }


async def get(call: Call) -> Result:
    params = upper_keys(call.params)
    principal = call.principal
    timezone = principal.portal.timezone
    sort, descending = parse_sort(params.get("SORT"), params.get("ORDER"))
    counted = call.start != -1
    offset = max(call.start, 0)
    query = StatQuery(
        portal_id=principal.portal.id,
        users=None if principal.user.is_admin else (principal.user.user_id,),
        conditions=parse_filter(params.get("FILTER"), timezone),
        sort=sort,
        descending=descending,
        offset=offset,
        limit=PAGE_SIZE,
        count=counted,
    )
    total, page = await call.services.calls.statistics(query)
    items = listed_page(page, timezone)
    if total is None:
        return Result(items, total=0)
    following = offset + len(page)
    return Result(items, total=total, next=following if following < total else None)


def register(registry: Registry) -> None:
    registry.add("voximplant.statistic.get", get, scope=SCOPE, list_method=True)
