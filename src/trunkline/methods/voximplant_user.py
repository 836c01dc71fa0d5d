"""``voximplant.user.get``, ``.activatePhone``, ``.deactivatePhone``.

Rules (the core's handlers, where the pages are silent):

* ``USER_ID`` is read with its exact case (these handlers do not upper-case their
  parameters). Absent or null: 400 with an empty ``error`` and "Parameter USER_ID is not
  set"; for activate/deactivate also when it reads as 0 through PHP ``intval``.
* ``user.get`` takes one id or a list (a form's ``USER_ID[]``, or an object whose values are
  ids); each is read with ``intval``. A list inside the list is refused (400
  ``ERROR_ARGUMENT``), as is an array for activate/deactivate (the core would read it as
  user 1). Ids of users that do not exist are left out of the answer.
* Rows: ``ID`` a string, ``DEFAULT_LINE``, ``PHONE_ENABLED``, ``SIP_PASSWORD`` and
  ``INNER_NUMBER`` as stored (null until set), ``SIP_SERVER`` the office registrar's
  address, ``SIP_LOGIN`` ``phone<ID>``.
* ``deactivatePhone`` sets PHONE_ENABLED to N, as its page says (the PHP core's handler
  sets it to Y, a slip that the page does not carry; docs/builtin-telephony.md).
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.php import intval
from trunkline.domain.telephony import UserPhone, phone_login
from trunkline.errors import ArgumentError, UserSettingsError
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"
NOT_SET = "Parameter USER_ID is not set"


def _user_ids(value: Any) -> list[int]:
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list):
        return [intval(items)]
    if any(isinstance(item, list | dict) for item in items):
        raise ArgumentError("Parameter USER_ID must be an integer or a list of integers", "USER_ID")
    return [intval(item) for item in items]


def _row(phone: UserPhone, server: str) -> dict[str, Any]:
    return {
        "ID": str(phone.user_id),
        "DEFAULT_LINE": phone.default_line,
        "PHONE_ENABLED": phone.phone_enabled,
        "SIP_SERVER": server,
        "SIP_LOGIN": phone_login(phone.user_id),
        "SIP_PASSWORD": phone.sip_password,
        "INNER_NUMBER": phone.inner_number,
    }


async def get(call: Call) -> Result:
    value = call.params.get("USER_ID")
    if value is None:
        raise UserSettingsError(NOT_SET)
    telephony = call.services.telephony
    phones = await telephony.user_phones(call.principal, _user_ids(value))
    server = telephony.sip_server()
    return Result([_row(phone, server) for phone in phones])


def _one_user(call: Call) -> int:
    value = call.params.get("USER_ID")
    if isinstance(value, list | dict):
        raise ArgumentError("Parameter USER_ID must be an integer", "USER_ID")
    user_id = intval(value)
    if user_id == 0:
        raise UserSettingsError(NOT_SET)
    return user_id


async def activate_phone(call: Call) -> Result:
    await call.services.telephony.set_phone(call.principal, _one_user(call), enabled=True)
    return Result(1)


async def deactivate_phone(call: Call) -> Result:
    await call.services.telephony.set_phone(call.principal, _one_user(call), enabled=False)
    return Result(1)


def register(registry: Registry) -> None:
    registry.add("voximplant.user.get", get, scope=SCOPE)
    registry.add("voximplant.user.activatePhone", activate_phone, scope=SCOPE)
    registry.add("voximplant.user.deactivatePhone", deactivate_phone, scope=SCOPE)
