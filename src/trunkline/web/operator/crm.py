"""Operator endpoints of the minimal CRM.

POST /operator/portals/{domain}/crm   {"entities": [{"type", "name", "phones",
                                      "assigned_by", "source"}, ...]} (or one entity)
                                      -> 201 {"ids": [...]}, all stored or none
GET  /operator/portals/{domain}/crm   -> {"entities": [...]}
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.services.crm import CrmInputError
from trunkline.web.operator.base import OperatorApi, OperatorError
from trunkline.web.operator.portals import portal_named


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route(
            "/operator/portals/{domain}/crm",
            api.guarded(partial(crm, api)),
            methods=["GET", "POST"],
        )
    ]


async def crm(api: OperatorApi, request: Request) -> Response:
    portal = await portal_named(api, request.path_params["domain"])
    service = api.services().crm
    if request.method == "GET":
        found = await service.entities(portal)
        return JSONResponse(
            {
                "entities": [
                    {
                        "id": e.id,
                        "type": e.type.value,
                        "name": e.name,
                        "assigned_by": e.assigned_by,
                        "phones": list(e.phones),
                        "source": e.source,
                    }
                    for e in found
                ]
            }
        )
    data = await api.json(request)
    items = data.get("entities", [data])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise OperatorError(400, "invalid_request", "entities should be a list of objects")
    try:
        ids = await service.add_many(portal, items)
    except CrmInputError as exc:
        raise OperatorError(400, "invalid_request", str(exc)) from exc
    return JSONResponse({"ids": ids}, status_code=201)
