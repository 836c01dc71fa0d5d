"""``voximplant.line.get``, ``.outgoing.get``, ``.outgoing.set``, ``.outgoing.sip.set``.

Each needs the "Manage numbers - modify" right (403 ``ACCESS_DENIED`` "Access denied!",
checked by the dispatcher before any parameter is read). Parameter names are
case-insensitive (the core upper-cases them). Quirks kept from the core:

* ``outgoing.set`` answers 1 whatever LINE_ID is: absent, unknown, an array. Only a
  LINE_ID that names a line (or ``LINK_BASE_NUMBER``) changes the default line.
* ``outgoing.sip.set`` reads CONFIG_ID as PHP ``intval``; an array is refused with 400
  ``ERROR_ARGUMENT`` (the core would read it as 1) so that bad input never picks line 1.
* ``line.get`` answers ``[]`` (a PHP empty array) when the portal has no line.
"""

from __future__ import annotations

from trunkline.domain.php import strval
from trunkline.domain.principal import Right
from trunkline.methods.voximplant_sip import id_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"
RIGHT = Right.MODIFY_LINES


async def get(call: Call) -> Result:
    lines = await call.services.telephony.lines(call.principal.portal)
    return Result(lines or [])


async def outgoing_get(call: Call) -> Result:
    return Result(await call.services.telephony.outgoing_line(call.principal.portal))


async def outgoing_set(call: Call) -> Result:
    value = upper_keys(call.params).get("LINE_ID")
    line_id = None if value is None else strval(value)
    if line_id:
        await call.services.telephony.set_outgoing_line(call.principal.portal, line_id)
    return Result(1)


async def outgoing_sip_set(call: Call) -> Result:
    config_id = id_param(upper_keys(call.params), "CONFIG_ID")
    await call.services.telephony.set_outgoing_config(call.principal.portal, config_id)
    return Result(1)


def register(registry: Registry) -> None:
    registry.add("voximplant.line.get", get, scope=SCOPE, right=RIGHT)
    registry.add("voximplant.line.outgoing.get", outgoing_get, scope=SCOPE, right=RIGHT)
    registry.add("voximplant.line.outgoing.set", outgoing_set, scope=SCOPE, right=RIGHT)
    registry.add("voximplant.line.outgoing.sip.set", outgoing_sip_set, scope=SCOPE, right=RIGHT)
