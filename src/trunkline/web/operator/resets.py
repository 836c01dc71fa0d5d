"""Operator endpoints of clean slates: resets and snapshots.

    DELETE /operator/portals/{domain}                 reset one portal: its rows deleted
                                                      (the seeded portal, or --seed's, is
                                                      made again as at start)
    POST   /operator/reset                            reset everything: every row deleted
                                                      (journal and snapshots too), the
                                                      clock's offset gone, then the
                                                      start-up seed and --seed again
    POST   /operator/portals/{domain}/snapshot        {"name"} -> 201 the portal saved
    POST   /operator/portals/{domain}/restore         {"name"} -> the portal put back (also
                                                      after it was deleted)
    GET    /operator/portals/{domain}/snapshots       the portal's snapshots
    DELETE /operator/portals/{domain}/snapshots/{name}

The seeded portal keeps its webhook code (derived from the secret key) and the
administrator's password over a reset. Faults and portal states go with their portal.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.services.snapshots import SnapshotMissingError
from trunkline.web.operator.base import OperatorApi, OperatorError
from trunkline.web.operator.portals import portal_named


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route("/operator/reset", api.guarded(partial(reset_all, api)), methods=["POST"]),
        Route(
            "/operator/portals/{domain}",
            api.guarded(partial(reset_portal, api)),
            methods=["DELETE"],
        ),
        Route(
            "/operator/portals/{domain}/snapshot",
            api.guarded(partial(snapshot, api)),
            methods=["POST"],
        ),
        Route(
            "/operator/portals/{domain}/restore",
            api.guarded(partial(restore, api)),
            methods=["POST"],
        ),
        Route(
            "/operator/portals/{domain}/snapshots",
            api.guarded(partial(snapshots, api)),
            methods=["GET"],
        ),
        Route(
            "/operator/portals/{domain}/snapshots/{name}",
            api.guarded(partial(forget, api)),
            methods=["DELETE"],
        ),
    ]


async def reset_all(api: OperatorApi, request: Request) -> Response:
    data = await api.json(request)
    if data:
        raise OperatorError(400, "invalid_request", "reset takes no fields")
    service = api.snapshots()
    kept = await service.administrator_hash(api.settings.default_portal_domain)
    await api.journal().clear()  # this worker's pending rows too
    deleted = await service.delete_everything()
    await api.clock().reset()  # no offset: real time again
    api.services().accounts.ids.restart()  # seeded ids start their streams again
    seeded = await api.reseed(api.base_url(request), kept)
    await api.plane().refresh()
    return JSONResponse({"deleted": deleted, "seeded": seeded})


async def reset_portal(api: OperatorApi, request: Request) -> Response:
    found = await portal_named(api, request.path_params["domain"])
    service = api.snapshots()
    kept = await service.administrator_hash(found.domain)
    await service.delete_portal(found)
    seeded = await api.reseed(api.base_url(request), kept, found.domain)
    await api.plane().refresh()
    body: dict[str, Any] = {"deleted": found.domain}
    if seeded["portal"] or seeded["scenario"]:
        body["seeded"] = seeded  # the seeded portal (or --seed's), made again
    return JSONResponse(body)


async def _name(api: OperatorApi, request: Request) -> str:
    data = await api.json(request)
    unknown = sorted(set(data) - {"name"})
    if unknown:
        raise OperatorError(400, "invalid_request", f"unknown field {unknown[0]}")
    name = data.get("name")
    if not isinstance(name, str):
        raise OperatorError(400, "invalid_request", "name is required: the snapshot's name")
    return name


async def snapshot(api: OperatorApi, request: Request) -> Response:
    found = await portal_named(api, request.path_params["domain"])
    name = await _name(api, request)
    await api.snapshots().save(found, name)
    return JSONResponse({"portal": found.domain, "snapshot": name}, status_code=201)


async def restore(api: OperatorApi, request: Request) -> Response:
    domain = request.path_params["domain"].lower()
    name = await _name(api, request)
    try:
        await api.snapshots().restore(domain, name)
    except SnapshotMissingError as exc:
        raise OperatorError(404, "not_found", str(exc)) from None
    await api.plane().refresh()
    return JSONResponse({"portal": domain, "restored": name})


async def snapshots(api: OperatorApi, request: Request) -> Response:
    domain = request.path_params["domain"].lower()
    found = await api.snapshots().names(domain)
    return JSONResponse(
        {"portal": domain, "snapshots": [{"name": n, "created_at": at} for n, at in found]}
    )


async def forget(api: OperatorApi, request: Request) -> Response:
    domain = request.path_params["domain"].lower()
    name = request.path_params["name"]
    if not await api.snapshots().forget(domain, name):
        raise OperatorError(404, "not_found", f"portal {domain!r} has no snapshot {name!r}")
    return JSONResponse({"portal": domain, "deleted": name})
