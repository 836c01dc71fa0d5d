"""Operator endpoints of the limits: injected faults and portal states.

    GET    /operator/faults                    every fault (spent ones show remaining 0)
    POST   /operator/faults                    {"kind", "method"?, "portal"?, "count"?,
                                               "share"?, "latency_ms"?} -> 201 the fault
    DELETE /operator/faults[/{id}]             clear all faults, or one
    GET    /operator/portals/{domain}/state    the portal's state
    POST   /operator/portals/{domain}/state    {"plan"?, "limits"?, "blocked"?, "closed"?,
                                               "hold"?: [...], "release"?: [...]}

Changes are in the database: this worker applies them at once, the others within
``control_poll_ms`` (the answer's ``applies_within_ms``).
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.limits.faults import FaultError
from trunkline.limits.states import StateError
from trunkline.web.operator.base import OperatorApi, OperatorError


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route(
            "/operator/faults", api.guarded(partial(faults, api)), methods=["GET", "POST", "DELETE"]
        ),
        Route(
            "/operator/faults/{fault_id:int}", api.guarded(partial(fault, api)), methods=["DELETE"]
        ),
        Route(
            "/operator/portals/{domain}/state",
            api.guarded(partial(portal_state, api)),
            methods=["GET", "POST"],
        ),
    ]


async def faults(api: OperatorApi, request: Request) -> Response:
    service = api.service()
    if request.method == "GET":
        return JSONResponse({"faults": [f.describe() for f in await service.faults()]})
    if request.method == "DELETE":
        cleared = await service.clear_faults()
        await api.plane().refresh()
        return api.applied({"cleared": cleared})
    data = await api.json(request)
    unknown = set(data) - {"kind", "method", "portal", "count", "share", "latency_ms"}
    if unknown:
        raise FaultError(f"unknown field(s): {', '.join(sorted(unknown))}")
    fault = await service.add_fault(
        kind=data.get("kind"),
        method=data.get("method"),
        portal=data.get("portal"),
        count=data.get("count"),
        share=data.get("share"),
        latency_ms=data.get("latency_ms"),
        known_methods=api.methods(),
    )
    await api.plane().refresh()
    return api.applied({"fault": fault.describe()}, 201)


async def fault(api: OperatorApi, request: Request) -> Response:
    cleared = await api.service().clear_faults(int(request.path_params["fault_id"]))
    if not cleared:
        raise OperatorError(404, "not_found", f"no fault {request.path_params['fault_id']}")
    await api.plane().refresh()
    return api.applied({"cleared": cleared})


async def portal_state(api: OperatorApi, request: Request) -> Response:
    service = api.service()
    portal = await service.portal_named(request.path_params["domain"])
    if portal is None:
        raise OperatorError(404, "not_found", f"no portal {request.path_params['domain']!r}")
    if request.method == "GET":
        state = await service.state(portal)
        return JSONResponse({"portal": portal.domain, **state.describe()})
    data = await api.json(request)
    allowed = {"plan", "limits", "blocked", "closed", "hold", "release"}
    unknown = set(data) - allowed
    if unknown:
        raise StateError(f"unknown field(s): {', '.join(sorted(unknown))}")
    for flag in ("blocked", "closed"):
        if flag in data and not isinstance(data[flag], bool):
            raise StateError(f"{flag} must be true or false")
    for listed in ("hold", "release"):
        value = data.get(listed)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise StateError(f"{listed} must be a list of strings")
    for text in ("plan", "limits"):
        if text in data and not isinstance(data[text], str):
            raise StateError(f"{text} must be a string")
    state = await service.set_state(portal, **data)
    await api.plane().refresh()
    return api.applied({"portal": portal.domain, **state.describe()})
