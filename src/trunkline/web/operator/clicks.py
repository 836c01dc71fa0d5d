"""Operator endpoints of the call simulator's app events.

POST /operator/portals/{domain}/calls/click     {"user", "phone", "crm": "CONTACT:7",
                                                "app", "line", "call_list", "mobile"}
                                                -> 201 {"call_id", "event", "app",
                                                "install_id", "data"}
POST /operator/portals/{domain}/calls/callback  {"phone", "text", "voice", "crm",
                                                "app", "line"} -> 201 (call_id null)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.domain.calls import CrmRef
from trunkline.domain.crm import crm_type
from trunkline.services.clicks import Clicked, ClickError
from trunkline.web.operator.base import OperatorApi, OperatorError
from trunkline.web.operator.portals import portal_named


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route(
            "/operator/portals/{domain}/calls/click",
            api.guarded(partial(click, api)),
            methods=["POST"],
        ),
        Route(
            "/operator/portals/{domain}/calls/callback",
            api.guarded(partial(callback, api)),
            methods=["POST"],
        ),
    ]


def _bad(text: str) -> OperatorError:
    return OperatorError(400, "invalid_request", text)


def _text(data: dict[str, Any], name: str, required: bool = False) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _bad(f"{name} should be a string")
    return str(value)


def _crm(data: dict[str, Any]) -> CrmRef | None:
    text = _text(data, "crm")
    if not text:
        return None
    kind, _, number = text.partition(":")
    found = crm_type(kind)
    if found is None or not number.strip().isdigit():
        raise _bad("crm should be CONTACT:<id>, COMPANY:<id> or LEAD:<id>")
    return CrmRef(found, int(number))


def _answer(clicked: Clicked) -> JSONResponse:
    return JSONResponse(
        {
            "call_id": clicked.call_id,
            "event": clicked.event,
            "app": clicked.client_id,
            "install_id": clicked.install_id,
            "data": clicked.data,
        },
        status_code=201,
    )


async def click(api: OperatorApi, request: Request) -> Response:
    portal = await portal_named(api, request.path_params["domain"])
    data = await api.json(request)
    user = data.get("user")
    if not isinstance(user, int) or isinstance(user, bool) or not 0 < user < 2**31:
        raise _bad("user should be a user id")
    call_list = data.get("call_list", 0)
    if not isinstance(call_list, int) or isinstance(call_list, bool) or call_list < 0:
        raise _bad("call_list should be a non-negative integer")
    try:
        clicked = await api.services().clicks.click(
            portal,
            user,
            _text(data, "phone", required=True),
            crm=_crm(data),
            client_id=_text(data, "app") or None,
            line=_text(data, "line"),
            call_list_id=call_list,
            mobile=data.get("mobile") is True,
        )
    except ClickError as exc:
        raise _bad(str(exc)) from exc
    return _answer(clicked)


async def callback(api: OperatorApi, request: Request) -> Response:
    portal = await portal_named(api, request.path_params["domain"])
    data = await api.json(request)
    try:
        clicked = await api.services().clicks.callback(
            portal,
            _text(data, "phone", required=True),
            text=_text(data, "text"),
            voice=_text(data, "voice"),
            crm=_crm(data),
            client_id=_text(data, "app") or None,
            line=_text(data, "line"),
        )
    except ClickError as exc:
        raise _bad(str(exc)) from exc
    return _answer(clicked)
