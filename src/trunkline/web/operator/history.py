"""Operator endpoint of a line's registration history (``domain/history.py``).

GET /operator/portals/{domain}/lines/{config_id}/history?limit=50&offset=0
    -> {"portal", "config_id", "total", "limit", "offset", "entries": [...]}, newest
       first; each entry: id, line, kind, at, time, from, to, from_code, status_code,
       reason, transaction (messages: direction, transport, local, remote, start_line,
       headers; digest secrets masked, bodies dropped)
GET /operator/portals/{domain}/lines/{config_id}/history.pcap
    -> the newest transaction as a pcap file (application/vnd.tcpdump.pcap)
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.domain.pcap import pcap_bytes
from trunkline.web.operator.base import OperatorApi, OperatorError

PATH = "/operator/portals/{domain}/lines/{config_id}/history"


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route(PATH, api.guarded(partial(history, api)), methods=["GET"]),
        Route(PATH + ".pcap", api.guarded(partial(pcap, api)), methods=["GET"]),
        Route(
            "/operator/ops-webhooks/{domain}",
            api.guarded(partial(ops_webhook, api)),
            methods=["GET", "PUT", "DELETE"],
        ),
    ]


def _number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise OperatorError(400, "invalid_request", f"{name} must be an integer") from None


async def _line(api: OperatorApi, request: Request) -> tuple[int, int, str]:
    domain = request.path_params["domain"].lower()
    services = api.services()
    portal = await services.accounts.portal(domain)
    if portal is None:
        raise OperatorError(404, "not_found", f"no portal {domain!r}")
    config_id = request.path_params["config_id"]
    if not config_id.isdigit():
        raise OperatorError(400, "invalid_request", "config_id must be a number")
    if not any(line.config_id == int(config_id) for line in await services.lines.all(portal)):
        raise OperatorError(404, "not_found", f"portal {domain} has no line {config_id}")
    return portal.id, int(config_id), portal.domain


async def history(api: OperatorApi, request: Request) -> Response:
    portal_id, config_id, domain = await _line(api, request)
    limit, offset = _number(request, "limit", 50), _number(request, "offset", 0)
    try:
        page = await api.registrations().history(portal_id, config_id, limit=limit, offset=offset)
    except ValueError as exc:
        raise OperatorError(400, "invalid_request", str(exc)) from None
    body = {
        "portal": domain,
        "config_id": config_id,
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "entries": [entry.to_json() for entry in page.entries],
    }
    return JSONResponse(body)


async def pcap(api: OperatorApi, request: Request) -> Response:
    portal_id, config_id, _ = await _line(api, request)
    last = await api.registrations().last_transaction(portal_id, config_id)
    if last is None:
        raise OperatorError(404, "not_found", f"line {config_id} has no SIP transaction yet")
    name = f"line-{config_id}-{last.entry_id}.pcap"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(
        pcap_bytes(last.messages), media_type="application/vnd.tcpdump.pcap", headers=headers
    )


async def ops_webhook(api: OperatorApi, request: Request) -> Response:
    domain = request.path_params["domain"].lower()
    portal = await api.services().accounts.portal(domain)
    if portal is None:
        raise OperatorError(404, "not_found", f"no portal {domain!r}")
    service = api.registrations()
    if request.method == "PUT":
        body = await api.json(request)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str):
            raise OperatorError(400, "invalid_request", "url must be a string")
        try:
            await service.set_ops_webhook(portal.id, url)
        except ValueError as exc:
            raise OperatorError(400, "invalid_request", str(exc)) from None
    elif request.method == "DELETE":
        await service.set_ops_webhook(portal.id, None)
    return JSONResponse({"portal": portal.domain, "url": await service.ops_webhook(portal.id)})
