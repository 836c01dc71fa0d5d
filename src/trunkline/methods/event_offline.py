"""``event.offline.get``, ``.list``, ``.clear`` and ``.error``: the wire side.

Rules (the pages'; ``docs/events.md``):

* Administrators only (403 ``ACCESS_DENIED`` "Access denied!"), in an application's
  context (a webhook: 403 ``WRONG_AUTH_TYPE``); each app reads its own queue, and the
  queue of the source ``auth_connector`` names ("" by default).
* ``filter`` takes ``ID``, ``TIMESTAMP_X``, ``EVENT_NAME``, ``MESSAGE_ID`` (``.list``
  also ``PROCESS_ID`` and ``ERROR``), each prefixed by ``=``, ``!``, ``!=``, ``<``,
  ``<=``, ``>``, ``>=`` (none: ``=``); ``order`` the same fields, ``ASC`` or ``DESC``
  (``.get`` defaults to ``TIMESTAMP_X``, ``.list`` to ``ID``). Another field is 400
  ``ERROR_ARGUMENT`` naming it; so is a filter or order that is not an object.
* ``.get``: ``limit`` (default 50, at most 1000), ``clear`` (default 1: the records are
  deleted; 0: they are reserved under a ``process_id``, which the answer carries and a
  later call may name to see them again), ``error`` (1: erroneous records too). It
  answers ``{"process_id": ..., "events": [...]}``.
* ``.list`` answers pages of 50 records with ``total`` and ``next``, changing nothing.
* ``.clear`` deletes a reservation (only the ``id`` or, else, ``message_id`` records
  given); ``.error`` marks the ``message_id`` records of a reservation erroneous. Both
  need ``process_id`` (400 ``ERROR_ARGUMENT`` "Argument 'PROCESS_ID' is null or
  empty") and answer ``true``.
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.dates import iso_date, parse_date
from trunkline.domain.events import Condition, OfflineRecord
from trunkline.domain.php import intval, strval
from trunkline.errors import ArgumentError
from trunkline.methods.event import app_install, required
from trunkline.methods.voximplant_sip import text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result

PAGE = 50
MAX_LIMIT = 1000
FIELDS = {
    "ID": "id",
    "TIMESTAMP_X": "created_at",
    "EVENT_NAME": "event",
    "MESSAGE_ID": "message_id",
    "PROCESS_ID": "process_id",
    "ERROR": "error",
}
GET_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID")
OPS = (("!=", "<>"), (">=", ">="), ("<=", "<="), ("=", "="), ("!", "<>"), (">", ">"), ("<", "<"))


def _value(field: str, raw: Any, timezone: str) -> object:
    if isinstance(raw, list | dict):
        raise ArgumentError(f"Filter field {field} must be a single value", field)
    if field == "ID":
        return intval(raw)
    if field == "ERROR":
        return strval(raw) in ("1", "Y", "y")
    text = strval(raw) or ""
    if field == "TIMESTAMP_X":
        moment = parse_date(text, timezone)
        if moment is None:
            raise ArgumentError(f"Filter field {field} must be a date", field)
        return moment
    if field == "PROCESS_ID" and text == "":
        return None
    return text


def _conditions(params: dict[str, Any], allowed: tuple[str, ...], tz: str) -> list[Condition]:
    given = params.get("FILTER")
    if given is None or given == "":
        return []
    if not isinstance(given, dict):
        raise ArgumentError("Parameter FILTER must be an object", "FILTER")
    found = []
    for key, raw in given.items():
        name = str(key)
        op = "="
        for prefix, sql in OPS:
            if name.startswith(prefix):
                name, op = name[len(prefix) :], sql
                break
        field = name.upper()
        if field not in allowed:
            raise ArgumentError(f"Unknown filter field {name}", name)
        found.append(Condition(FIELDS[field], op, _value(field, raw, tz)))
    return found


def _order(
    params: dict[str, Any], allowed: tuple[str, ...], default: str
) -> list[tuple[str, bool]]:
    given = params.get("ORDER")
    if given is None or given == "":
        return [(FIELDS[default], False)]
    if not isinstance(given, dict):
        raise ArgumentError("Parameter ORDER must be an object", "ORDER")
    order = []
    for key, raw in given.items():
        field = str(key).upper()
        if field not in allowed:
            raise ArgumentError(f"Unknown order field {key}", str(key))
        direction = (strval(raw) if not isinstance(raw, list | dict) else None) or "ASC"
        order.append((FIELDS[field], direction.upper() == "DESC"))
    return order


def _record(record: OfflineRecord, timezone: str, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "ID": str(record.id),
        "TIMESTAMP_X": iso_date(record.created_at, timezone),
        "EVENT_NAME": record.event,
        "EVENT_DATA": record.data or False,
        "EVENT_ADDITIONAL": False,
        "MESSAGE_ID": record.message_id,
    }
    if full:
        shown["PROCESS_ID"] = record.process_id or ""
        shown["ERROR"] = "1" if record.error else "0"
    return shown


def _strings(params: dict[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None or value == "":
        return []
    items = list(value.values()) if isinstance(value, dict) else value
    items = items if isinstance(items, list) else [items]
    texts = [strval(item) for item in items]
    if any(text is None for text in texts):
        raise ArgumentError(f"Parameter {name} must be a list of values", name)
    return [text for text in texts if text]


async def get(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, _ = await app_install(call)
    tz = call.principal.portal.timezone
    conditions = _conditions(params, GET_FIELDS, tz)
    order = _order(params, GET_FIELDS, "TIMESTAMP_X")
    limit = intval(params.get("LIMIT")) if params.get("LIMIT") not in (None, "") else PAGE
    limit = PAGE if limit <= 0 else min(limit, MAX_LIMIT)
    clear = params.get("CLEAR")
    process_id, records = await call.services.events.offline_take(
        install_id,
        call.principal.user,
        connector=text_param(params, "AUTH_CONNECTOR") or "",
        conditions=conditions,
        order=order,
        limit=limit,
        process_id=text_param(params, "PROCESS_ID") or None,
        errors=bool(intval(params.get("ERROR"))),
        clear=clear in (None, "") or bool(intval(clear)),
    )
    return Result({"process_id": process_id, "events": [_record(r, tz, False) for r in records]})


async def list_(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, _ = await app_install(call)
    tz = call.principal.portal.timezone
    fields = tuple(FIELDS)
    start = max(0, call.start)
    total, records = await call.services.events.offline_records(
        install_id,
        call.principal.user,
        connector=text_param(params, "AUTH_CONNECTOR") or "",
        conditions=_conditions(params, fields, tz),
        order=_order(params, fields, "ID"),
        start=start,
        limit=PAGE,
    )
    more = start + PAGE < total
    return Result([_record(r, tz, True) for r in records], total, start + PAGE if more else None)


async def clear(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, _ = await app_install(call)
    process_id = required(params, "PROCESS_ID")
    ids = [intval(text) for text in _strings(params, "ID")]
    await call.services.events.offline_clear(
        install_id,
        call.principal.user,
        process_id,
        ids=ids,
        message_ids=_strings(params, "MESSAGE_ID"),
    )
    return Result(True)


async def error(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, _ = await app_install(call)
    process_id = required(params, "PROCESS_ID")
    await call.services.events.offline_error(
        install_id, call.principal.user, process_id, _strings(params, "MESSAGE_ID")
    )
    return Result(True)


def register(registry: Registry) -> None:
    registry.add("event.offline.get", get, scope=None)
    registry.add("event.offline.list", list_, scope=None, list_method=True)
    registry.add("event.offline.clear", clear, scope=None)
    registry.add("event.offline.error", error, scope=None)
