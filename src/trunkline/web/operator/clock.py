"""Operator endpoints of the virtual clock (``services/clock.py``).

GET  /operator/clock       {"now", "time", "offset", "virtual"}
POST /operator/clock       {"advance": seconds} | {"set": iso} | {"real": true}
                           -> the clock as GET shows it; the other workers follow
                           within ``control_poll_ms``
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.web.operator.base import OperatorApi


def routes(api: OperatorApi) -> list[Route]:
    return [Route("/operator/clock", api.guarded(partial(clock, api)), methods=["GET", "POST"])]


async def clock(api: OperatorApi, request: Request) -> Response:
    service = api.clock()
    if request.method == "GET":
        return JSONResponse(service.describe())
    answer = await service.change(await api.json(request))
    return api.applied(answer)
