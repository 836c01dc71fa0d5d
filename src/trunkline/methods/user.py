"""``user.get``, ``user.current``, ``user.update``: the fields the telephony flow needs.

Rules (the pages', trimmed to the fields Trunkline keeps):

* A user is ``ID`` (a string), ``ACTIVE`` (a boolean), ``NAME``, ``LAST_NAME``, ``EMAIL``,
  ``UF_PHONE_INNER`` (null when unset) and ``USER_TYPE`` ``employee``.
* ``user.get`` filters by those fields with the page's prefixes (``=`` default, ``!``/``!=``,
  ``>`` ``>=`` ``<`` ``<=``, ``@`` / ``!@`` IN and NOT IN, ``%`` / ``!%`` substring,
  ``=%``/``%=`` / ``!=%``/``!%=`` LIKE with the ``%`` given); FILTER, or the keys at the
  top level when FILTER is absent. ``ACTIVE`` reads ``true``/``Y``/``1`` as active.
  Strings compare case-insensitively; a key naming another field is ignored.
  ``sort``/``order`` by a field (default ``ID`` ascending); pages of 50 with ``total``.
* ``user.update`` changes ``NAME``, ``LAST_NAME``, ``EMAIL``, ``UF_PHONE_INNER`` (empty:
  none) and ``ACTIVE`` (``Y``/``N`` or a boolean) and answers ``true``; the caller must be
  an administrator, and the ID must name a user of the portal: ``ERROR_CORE``
  ``access_denied`` otherwise, as the page says.
* All three need the ``user`` scope.
"""

from __future__ import annotations

import re
from typing import Any

from trunkline.domain.php import boolval, intval, strval
from trunkline.domain.portals import User
from trunkline.domain.query import PAGE_SIZE
from trunkline.errors import ArgumentError, RefusedError
from trunkline.methods.voximplant_sip import id_param, text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "user"
PREFIXES = ("!=%", "!%=", ">=", "<=", "!@", "=%", "%=", "!%", "!=", ">", "<", "@", "%", "!", "=")
FIELDS = ("ID", "ACTIVE", "NAME", "LAST_NAME", "EMAIL", "UF_PHONE_INNER")
RESERVED = {"FILTER", "SORT", "ORDER", "ADMIN_MODE", "SELECT", "IMAGE_RESIZE", "START"}


def user_item(user: User) -> dict[str, Any]:
    return {
        "ID": str(user.user_id),
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "EMAIL": user.email,
        "UF_PHONE_INNER": user.phone_inner,
        "USER_TYPE": "employee",
    }


def _value(user: User, field: str) -> Any:
    return {
        "ID": user.user_id,
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "EMAIL": user.email,
        "UF_PHONE_INNER": user.phone_inner or "",
    }[field]


def _operand(field: str, raw: Any) -> Any:
    if field == "ID":
        return intval(raw)
    if field == "ACTIVE":
        return (
            raw is True or (isinstance(raw, str) and raw.upper() in ("Y", "TRUE", "1")) or raw == 1
        )
    return (strval(raw) or "").lower() if not isinstance(raw, list | dict) else ""


def _like(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.fullmatch(regex, text, re.S) is not None


def _test(op: str, have: Any, raws: list[Any], field: str) -> bool:
    values = [_operand(field, raw) for raw in raws]
    if isinstance(have, str):
        have = have.lower()
    if op in ("=", "@"):
        return have in values
    if op in ("!", "!=", "!@"):
        return have not in values
    if op in ("%", "!%"):
        hit = any(str(v) in str(have) for v in values)
        return hit if op == "%" else not hit
    if op in ("=%", "%="):
        return any(_like(str(v), str(have)) for v in values)
    if op in ("!=%", "!%="):
        return not any(_like(str(v), str(have)) for v in values)
    value = values[0] if values else None
    if value is None or type(value) is not type(have):
        return False
    result: bool = {">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value}[
        op
    ]
    return result


def _conditions(raw: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    found = []
    for key, value in raw.items():
        name = str(key).upper()
        op = next((p for p in PREFIXES if name.startswith(p)), "=")
        field = name[len(op) :] if name.startswith(op) else name
        if field not in FIELDS:
            continue
        values = list(value.values()) if isinstance(value, dict) else value
        found.append((op, field, values if isinstance(values, list) else [values]))
    return found


async def get(call: Call) -> Result:
    params = upper_keys(call.params)
    raw = params.get("FILTER")
    if not isinstance(raw, dict):
        raw = {k: v for k, v in params.items() if k not in RESERVED}
    conditions = _conditions(raw)
    users = await call.services.accounts.portal_users(call.principal.portal)
    chosen = [u for u in users if all(_test(op, _value(u, f), v, f) for op, f, v in conditions)]
    sort = str(params.get("SORT") or "ID").upper()
    if sort in FIELDS:
        descending = str(params.get("ORDER") or "ASC").upper() == "DESC"
        chosen.sort(key=lambda u: (_value(u, sort), u.user_id), reverse=descending)
    offset = max(call.start, 0)
    page = chosen[offset : offset + PAGE_SIZE]
    following = offset + len(page)
    return Result(
        [user_item(u) for u in page],
        total=len(chosen),
        next=following if following < len(chosen) else None,
    )


async def current(call: Call) -> Result:
    user = await call.services.accounts.user(call.principal.portal, call.principal.user.user_id)
    return Result(user_item(user or call.principal.user))


def _changes(params: dict[str, Any]) -> dict[str, object]:
    changes: dict[str, object] = {}
    for wire, column in (("NAME", "name"), ("LAST_NAME", "last_name"), ("EMAIL", "email")):
        text = text_param(params, wire)
        if text is not None:
            changes[column] = text[:255]
    inner = text_param(params, "UF_PHONE_INNER")
    if inner is not None:
        if len(inner) > 32:
            raise ArgumentError(
                "Parameter UF_PHONE_INNER is longer than 32 characters", "UF_PHONE_INNER"
            )
        changes["phone_inner"] = inner.strip() or None
    active = params.get("ACTIVE")
    if isinstance(active, list | dict):
        raise ArgumentError("Parameter ACTIVE must be Y or N", "ACTIVE")
    if active is not None:
        changes["active"] = active not in ("N", "n") and boolval(active)
    return changes


async def update(call: Call) -> Result:
    params = upper_keys(call.params)
    user_id = id_param(params, "ID")
    changes = _changes(params)
    if not call.principal.user.is_admin or not 0 < user_id < 2**31:
        raise RefusedError("access_denied")
    if not await call.services.accounts.update_user(call.principal.portal, user_id, changes):
        raise RefusedError("access_denied")
    return Result(True)


def register(registry: Registry) -> None:
    registry.add("user.get", get, scope=SCOPE, list_method=True)
    registry.add("user.current", current, scope=SCOPE)
    registry.add("user.update", update, scope=SCOPE)
