"""``telephony.externalLine.add``, ``.update``, ``.get``, ``.delete``: the wire side.

Rules (the pages', and the core's where they are silent):

* Each works in an application's context (``methods/app_context.py``): lines belong
  to the calling app (a webhook's to "no application") in the calling portal.
* Parameter names are case-insensitive; a JSON null is absent; numbers read as PHP
  prints them; an array where a string is expected is 400 ``ERROR_ARGUMENT`` naming the
  parameter (the core would read ``"Array"``).
* ``add`` answers ``{"ID": <int>}``, ``update`` ``{"ID": "<id>"}`` (the row's id as the
  database gives it), ``get`` a list of ``NUMBER``/``NAME``/``CRM_AUTO_CREATE`` in the
  order the lines were added, ``delete`` ``[]``.
* ``update`` needs NAME or CRM_AUTO_CREATE ("There are no fields to update", checked
  before NUMBER, as the core does).
"""

from __future__ import annotations

from trunkline.domain.external import crm_auto_create
from trunkline.methods.app_context import app_context
from trunkline.methods.voximplant_sip import text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"


async def add(call: Call) -> Result:
    params = upper_keys(call.params)
    number = text_param(params, "NUMBER") or ""
    name = text_param(params, "NAME") or ""
    crm = crm_auto_create(text_param(params, "CRM_AUTO_CREATE"))
    context = await app_context(call)
    portal_id = call.principal.portal.id
    line_id = await call.services.external_lines.add(
        portal_id, context.rest_app_id, number, name, crm
    )
    return Result({"ID": line_id})


async def update(call: Call) -> Result:
    params = upper_keys(call.params)
    number = text_param(params, "NUMBER") or ""
    name = text_param(params, "NAME")
    crm_text = text_param(params, "CRM_AUTO_CREATE")
    crm = None if crm_text is None else crm_text == "Y"
    context = await app_context(call)
    line_id = await call.services.external_lines.update(
        call.principal.portal.id, context.rest_app_id, number, name=name, crm=crm
    )
    return Result({"ID": str(line_id)})


async def get(call: Call) -> Result:
    context = await app_context(call)
    lines = await call.services.external_lines.lines(call.principal.portal.id, context.rest_app_id)
    return Result(
        [
            {
                "NUMBER": line.number,
                "NAME": line.name,
                "CRM_AUTO_CREATE": "Y" if line.crm_auto_create else "N",
            }
            for line in lines
        ]
    )


async def delete(call: Call) -> Result:
    params = upper_keys(call.params)
    number = text_param(params, "NUMBER") or ""
    context = await app_context(call)
    await call.services.external_lines.delete(call.principal.portal.id, context.rest_app_id, number)
    return Result([])


def register(registry: Registry) -> None:
    registry.add("telephony.externalLine.add", add, scope=SCOPE)
    registry.add("telephony.externalLine.update", update, scope=SCOPE)
    registry.add("telephony.externalLine.get", get, scope=SCOPE)
    registry.add("telephony.externalLine.delete", delete, scope=SCOPE)
