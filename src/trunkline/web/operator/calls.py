"""Operator endpoints of the call simulator (``services/simulator.py``).

    POST /operator/calls            {"portal", "line", "user_id", "number", "direction",
                                     "answer_after", "duration", "status_code", "cost", ...}
                                    -> 201 the call: its CALL_ID and when it is answered
                                    and ends on the application clock
    GET  /operator/calls            the steps waiting, soonest first
    POST /operator/calls/advance    {"seconds"} -> the application clock moved, each due
                                    step run at its own moment: {"ran", "now"}
    POST /operator/calls/outcomes   {"portal", "answer_after", "duration", ...} -> the
                                    outcome of the portal's next built-in call (callback,
                                    infocall), queued: {"queued"}

``portal`` is a domain (default: the first portal); ``line`` a line key (``reg150001``,
``sip3``) or a CONFIG_ID; ``direction`` ``incoming`` (default) or ``outgoing``;
``answer_after`` null: nobody answers and the call rings ``ring`` seconds (default 30),
then ends as missed (304).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.domain.portals import Portal
from trunkline.domain.telephony import CallScript
from trunkline.services.simulator import SimulatorError, parse_script
from trunkline.web.operator.base import OperatorApi, OperatorError

_CALL_KEYS = {"portal", "line", "user_id", "number", "direction"}


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route("/operator/calls", api.guarded(partial(calls, api)), methods=["GET", "POST"]),
        Route("/operator/calls/advance", api.guarded(partial(advance, api)), methods=["POST"]),
        Route("/operator/calls/outcomes", api.guarded(partial(outcomes, api)), methods=["POST"]),
    ]


async def _portal(api: OperatorApi, data: dict[str, Any]) -> Portal:
    domain = data.get("portal")
    if domain is not None and not isinstance(domain, str):
        raise OperatorError(400, "invalid_request", "portal must be a domain")
    found = await api.services().accounts.portal(domain.lower() if domain else None)
    if found is None:
        raise OperatorError(404, "not_found", f"no portal {domain!r}")
    return found


def _text(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise SimulatorError(f"{name} must be a non-empty string")
    return value


async def calls(api: OperatorApi, request: Request) -> Response:
    simulator = api.services().simulator
    if request.method == "GET":
        return JSONResponse({"pending": simulator.pending()})
    data = await api.json(request)
    portal = await _portal(api, data)
    direction = data.get("direction", "incoming")
    if direction not in ("incoming", "outgoing"):
        raise SimulatorError("direction must be incoming or outgoing")
    user_id = data.get("user_id", 1)
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise SimulatorError("user_id must be an integer")
    script = parse_script({k: v for k, v in data.items() if k not in _CALL_KEYS}, CallScript())
    started = await simulator.simulate(
        portal,
        line=_text(data, "line"),
        user_id=user_id,
        number=_text(data, "number", "+15550100"),
        incoming=direction == "incoming",
        script=script,
    )
    return JSONResponse(started.to_json(), status_code=201)


async def advance(api: OperatorApi, request: Request) -> Response:
    data = await api.json(request)
    seconds = data.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise SimulatorError("seconds must be a number")
    if not 0 <= seconds <= 366 * 86400:
        raise SimulatorError("seconds must be between 0 and a year")
    services = api.services()
    ran = await services.simulator.advance(float(seconds))
    return JSONResponse({"ran": ran, "now": services.clock.now()})


async def outcomes(api: OperatorApi, request: Request) -> Response:
    data = await api.json(request)
    portal = await _portal(api, data)
    simulator = api.services().simulator
    script = parse_script(
        {k: v for k, v in data.items() if k != "portal"}, simulator.default_script()
    )
    return JSONResponse({"queued": simulator.script_next(portal, script)}, status_code=201)
