"""``voximplant.sip.get``, ``.add``, ``.update``, ``.delete``: the wire side.

Parameter names are case-insensitive (the core upper-cases them); a JSON
``null`` counts as absent; numbers and booleans are read as PHP would convert
them to strings; an array where a string is expected is a 400
``ERROR_ARGUMENT`` naming the parameter. Each method needs the "Manage numbers -
modify" right, which the dispatcher checks before the handler reads any parameter
(so 403 ``ACCESS_DENIED`` wins over any argument error). Values read from storage go out as
strings (``"CONFIG_ID": "3"``), values the method makes as numbers (the add
response's integer ``REG_ID``, the ``1`` of update and delete).
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.lines import LineType, SipLine
from trunkline.domain.php import intval, strval
from trunkline.domain.principal import Right
from trunkline.domain.query import FIELDS, PAGE_SIZE
from trunkline.errors import ArgumentError, UnknownFieldError
from trunkline.methods.sip_filter import parse_filter
from trunkline.rest.registry import Call, Registry, Result
from trunkline.rest.responses import FrozenItem
from trunkline.services.lines import LineInput

SCOPE = "telephony"
RIGHT = Right.MODIFY_LINES  # every voximplant.sip.* method (checked by the dispatcher)


def upper_keys(params: dict[str, Any]) -> dict[str, Any]:
    return {str(k).upper(): v for k, v in params.items()}


def text_param(params: dict[str, Any], name: str) -> str | None:
    """A string parameter: None when absent or null; arrays are refused."""
    value = params.get(name)
    if value is None:
        return None
    text = strval(value)
    if text is None:
        raise ArgumentError(f"Parameter {name} must be a string", name)
    if "\x00" in text:
        raise ArgumentError(f"Parameter {name} must not contain NUL characters", name)
    return text


def id_param(params: dict[str, Any], name: str) -> int:
    """An id parameter through PHP ``intval``; an array is refused rather than read
    as 1, so that a malformed request can never update or delete line 1."""
    value = params.get(name)
    if isinstance(value, list | dict):
        raise ArgumentError(f"Parameter {name} must be an integer", name)
    return intval(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


_ITEMS: dict[int, tuple[SipLine, FrozenItem]] = {}
_ITEMS_MAX = 100_000


def listed_item(line: SipLine) -> FrozenItem:
    """``line_item``, kept per line object: storage hands out the same object for as
    long as the row is unchanged, so an unchanged line is not rebuilt. The entry holds
    the object itself, so an id is never mistaken for another's. The items are shared
    (nothing may mutate them), and each keeps its JSON once encoded."""
    entry = _ITEMS.get(id(line))
    if entry is not None and entry[0] is line:
        return entry[1]
    if len(_ITEMS) >= _ITEMS_MAX:
        _ITEMS.clear()
    item = FrozenItem(line_item(line))
    _ITEMS[id(line)] = (line, item)
    return item


def line_item(line: SipLine) -> dict[str, Any]:
    """A row of ``sip.get``: every value a string or null, in the core's key order."""
    item: dict[str, Any] = {"TYPE": line.type.value, "CONFIG_ID": str(line.config_id)}
    if line.type is LineType.CLOUD:
        item["REG_ID"] = str(line.reg_id)
    item["SERVER"] = line.server
    item["LOGIN"] = line.login
    item["PASSWORD"] = line.password
    if line.type is LineType.OFFICE:
        item["INCOMING_SERVER"] = line.incoming_server
        item["INCOMING_LOGIN"] = line.incoming_login
        item["INCOMING_PASSWORD"] = line.incoming_password
    item["AUTH_USER"] = line.auth_user
    item["OUTBOUND_PROXY"] = line.outbound_proxy
    item["DETECT_LINE_NUMBER"] = line.detect_line_number
    item["LINE_DETECT_HEADER_ORDER"] = line.line_detect_header_order
    item["REGISTRATION_STATUS_CODE"] = _text(line.registration_status_code)
    item["REGISTRATION_ERROR_MESSAGE"] = line.registration_error_message
    item["TITLE"] = "" if line.title is None else line.title
    return item


def added_item(line: SipLine) -> dict[str, Any]:
    """The ``sip.add`` result: ``ID`` first, an integer ``REG_ID`` for cloud lines,
    and the registration fields as they were before the line was set up (null)."""
    item = {"ID": str(line.line_id), **line_item(line)}
    if line.type is LineType.CLOUD:
        item["REG_ID"] = line.reg_id
    item["REGISTRATION_STATUS_CODE"] = None
    item["REGISTRATION_ERROR_MESSAGE"] = None
    return item


async def get(call: Call) -> Result:
    params = upper_keys(call.params)
    conditions = parse_filter(params.get("FILTER"))
    sort_field = None
    descending = False
    sort_error: Exception | None = None
    sort, order = params.get("SORT"), params.get("ORDER")
    if isinstance(sort, str) and isinstance(order, str) and sort and order:
        sort_field = FIELDS.get(sort.upper())
        if sort_field is None:
            sort_error = UnknownFieldError(sort.upper())
        elif order.upper() not in ("ASC", "DESC"):
            sort_error = ArgumentError(f'Invalid order "{order.upper()}"', "")
        descending = order.upper() == "DESC"
    offset = max(call.start, 0)
    lines = call.services.lines
    query = lines.query(
        call.principal,
        conditions=conditions,
        sort=sort_field,
        descending=descending,
        offset=offset,
        limit=PAGE_SIZE,
    )
    total, page = await lines.list(call.principal, query, sort_error=sort_error)
    if total == 0:
        return Result([])
    following = offset + len(page)
    return Result(
        [listed_item(line) for line in page],
        total=total,
        next=following if following < total else None,
    )


def _line_input(params: dict[str, Any]) -> LineInput:
    return LineInput(
        type=text_param(params, "TYPE"),
        title=text_param(params, "TITLE"),
        server=text_param(params, "SERVER"),
        login=text_param(params, "LOGIN"),
        password=text_param(params, "PASSWORD"),
    )


async def add(call: Call) -> Result:
    params = upper_keys(call.params)
    line = await call.services.lines.add(call.principal, _line_input(params))
    return Result(added_item(line))


async def update(call: Call) -> Result:
    params = upper_keys(call.params)
    config_id = id_param(params, "CONFIG_ID")
    await call.services.lines.update(call.principal, config_id, _line_input(params))
    return Result(1)


async def delete(call: Call) -> Result:
    params = upper_keys(call.params)
    await call.services.lines.delete(call.principal, id_param(params, "CONFIG_ID"))
    return Result(1)


def register(registry: Registry) -> None:
    registry.add("voximplant.sip.get", get, scope=SCOPE, right=RIGHT, list_method=True)
    registry.add("voximplant.sip.add", add, scope=SCOPE, right=RIGHT)
    registry.add("voximplant.sip.update", update, scope=SCOPE, right=RIGHT)
    registry.add("voximplant.sip.delete", delete, scope=SCOPE, right=RIGHT)
