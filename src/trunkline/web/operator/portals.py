"""Operator endpoints of what a test sets up: portals and everything in them.

    GET    /operator/portals                       every portal
    POST   /operator/portals                       a scenario document -> 201 the portal
                                                   with every secret made (shown once)
    GET    /operator/portals/{domain}              the portal read back: users, webhooks,
                                                   apps, lines, crm (no secrets)
    GET    /operator/portals/{domain}/{part}       one part: users, webhooks, apps, lines
    POST   /operator/portals/{domain}/{part}       one item of a part, as in a scenario
                                                   document -> 201 (webhooks and apps with
                                                   their secrets; lines follow
                                                   voximplant.sip.add's rules)

The scenario document is described in ``docs/scenario.md`` and by the JSON Schema
``docs/scenario.schema.json``; ``services/scenario.py`` checks and builds it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.domain.portals import Portal
from trunkline.services.readback import describe, portal_answer, user_answer
from trunkline.services.scenario import (
    PortalBuilder,
    ScenarioError,
    parse,
    part,
)
from trunkline.web.operator.base import OperatorApi, OperatorError

PARTS = {"users": "user", "webhooks": "webhook", "apps": "app", "lines": "line"}


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route("/operator/portals", api.guarded(partial(portals, api)), methods=["GET", "POST"]),
        Route("/operator/portals/{domain}", api.guarded(partial(portal, api)), methods=["GET"]),
        Route(
            "/operator/portals/{domain}/{part:str}",
            api.guarded(partial(portal_part, api)),
            methods=["GET", "POST"],
        ),
    ]


def builder(api: OperatorApi) -> PortalBuilder:
    services = api.services()
    return PortalBuilder(services.accounts, services.apps, services.lines, services.crm)


async def read_back(api: OperatorApi, portal: Portal) -> dict[str, Any]:
    services = api.services()
    return await describe(services.accounts, services.apps, services.lines, portal, services.crm)


async def portal_named(api: OperatorApi, domain: str) -> Portal:
    found = await api.services().accounts.portal(domain.lower())
    if found is None:
        raise OperatorError(404, "not_found", f"no portal {domain!r}")
    return found


async def portals(api: OperatorApi, request: Request) -> Response:
    services = api.services()
    if request.method == "GET":
        found = await services.accounts.portals()
        return JSONResponse({"portals": [portal_answer(p) for p in found]})
    scenario = parse(await api.json(request))
    built = await builder(api).build(scenario, api.base_url(request))
    read = await read_back(api, built.portal)
    body = {**read, "webhooks": built.webhooks, "apps": built.apps, "lines": built.lines}
    body["crm"] = built.crm or read["crm"]
    return JSONResponse(body, status_code=201)


async def portal(api: OperatorApi, request: Request) -> Response:
    found = await portal_named(api, request.path_params["domain"])
    return JSONResponse(await read_back(api, found))


async def portal_part(api: OperatorApi, request: Request) -> Response:
    name = request.path_params["part"]
    kind = PARTS.get(name)
    if kind is None:
        raise OperatorError(404, "not_found", f"no operator endpoint {request.url.path}")
    found = await portal_named(api, request.path_params["domain"])
    services = api.services()
    if request.method == "GET":
        read = await read_back(api, found)
        return JSONResponse({name: read[name]})
    users = {user.user_id for user, _ in await services.accounts.users(found)}
    item = part(kind, await api.json(request), users)
    made = builder(api)
    base = api.base_url(request)
    answer: dict[str, Any]
    if kind == "user":
        answer = user_answer(await made.add_user(found, item))
    elif kind == "webhook":
        answer = await made.add_webhook(found, item, base)
    elif kind == "app":
        answer = await made.add_app(found, item, base)
    else:
        if item.get("app") is not None:
            raise ScenarioError("app is an index into a document's apps: give client_id")
        answer = await made.add_line(found, item, item.get("client_id"))
    return JSONResponse({kind: answer}, status_code=201)
