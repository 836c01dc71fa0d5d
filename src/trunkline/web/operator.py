"""Operator endpoints: injected faults and portal states over HTTP (never under /rest/).

    GET    /operator/faults                    every fault (spent ones show remaining 0)
    POST   /operator/faults                    {"kind", "method"?, "portal"?, "count"?,
                                               "share"?, "latency_ms"?} -> 201 the fault
    DELETE /operator/faults[/{id}]             clear all faults, or one
    GET    /operator/portals/{domain}/state    the portal's state
    POST   /operator/portals/{domain}/state    {"plan"?, "limits"?, "blocked"?, "closed"?,
                                               "hold"?: [...], "release"?: [...]}

Every request needs ``Authorization: Bearer <operator_token>``. With no
``operator_token`` set every endpoint answers 403; a missing or wrong token 401.
Bad input answers 400 with a message naming what is wrong. Changes are in the
database: this worker applies them at once, the others within ``control_poll_ms``
(the answer's ``applies_within_ms``).

Errors have the shape ``{"error": <code>, "error_description": <text>}`` with the
status: 403 ``operator_disabled``, 401 ``invalid_operator_token``, 400
``invalid_request``, 404 ``not_found``; :func:`error_response` is their one renderer.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.limits.faults import FaultError
from trunkline.limits.states import StateError
from trunkline.services.control import ControlService
from trunkline.settings import Settings
from trunkline.web.control import ControlPlane

Handler = Callable[[Request], Awaitable[Response]]


class OperatorError(Exception):
    """An operator API answer other than success: an HTTP status, a code and a text."""

    def __init__(self, http_status: int, error_code: str, error_description: str) -> None:
        super().__init__(f"{error_code}: {error_description}")
        self.http_status = http_status
        self.error_code = error_code
        self.error_description = error_description


def error_response(exc: OperatorError | FaultError | StateError) -> JSONResponse:
    """The one renderer of operator API errors; invalid input (a fault or state the
    operator asked for) is 400 ``invalid_request`` with the validator's message."""
    if not isinstance(exc, OperatorError):
        exc = OperatorError(400, "invalid_request", str(exc))
    body = {"error": exc.error_code, "error_description": exc.error_description}
    return JSONResponse(body, status_code=exc.http_status)


class OperatorApi:
    def __init__(
        self,
        settings: Settings,
        service: Callable[[], ControlService],
        plane: Callable[[], ControlPlane],
        methods: Callable[[], list[str]],
    ) -> None:
        self.settings = settings
        self.service = service
        self.plane = plane
        self.methods = methods

    def routes(self) -> list[Route]:
        return [
            Route(
                "/operator/faults", self._guarded(self.faults), methods=["GET", "POST", "DELETE"]
            ),
            Route("/operator/faults/{fault_id:int}", self._guarded(self.fault), methods=["DELETE"]),
            Route(
                "/operator/portals/{domain}/state",
                self._guarded(self.portal_state),
                methods=["GET", "POST"],
            ),
        ]

    def _guarded(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                self._authorize(request)
                return await handler(request)
            except (OperatorError, FaultError, StateError) as exc:
                return error_response(exc)

        return endpoint

    def _authorize(self, request: Request) -> None:
        expected = self.settings.operator_token
        if not expected:
            raise OperatorError(
                403,
                "operator_disabled",
                "Operator endpoints are off: set operator_token (TRUNKLINE_OPERATOR_TOKEN).",
            )
        given = request.headers.get("authorization", "")
        token = given[7:].strip() if given[:7].lower() == "bearer " else ""
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise OperatorError(401, "invalid_operator_token", "Missing or wrong operator token.")

    async def _json(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        if not body:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise FaultError("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise FaultError("the body must be a JSON object")
        return data

    def _applied(self, data: dict[str, Any], status: int = 200) -> JSONResponse:
        data["applies_within_ms"] = self.settings.control_poll_ms
        return JSONResponse(data, status_code=status)

    async def faults(self, request: Request) -> Response:
        service = self.service()
        if request.method == "GET":
            return JSONResponse({"faults": [f.describe() for f in await service.faults()]})
        if request.method == "DELETE":
            cleared = await service.clear_faults()
            await self.plane().refresh()
            return self._applied({"cleared": cleared})
        data = await self._json(request)
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
            known_methods=self.methods(),
        )
        await self.plane().refresh()
        return self._applied({"fault": fault.describe()}, 201)

    async def fault(self, request: Request) -> Response:
        cleared = await self.service().clear_faults(int(request.path_params["fault_id"]))
        if not cleared:
            raise OperatorError(404, "not_found", f"no fault {request.path_params['fault_id']}")
        await self.plane().refresh()
        return self._applied({"cleared": cleared})

    async def portal_state(self, request: Request) -> Response:
        service = self.service()
        portal = await service.portal_named(request.path_params["domain"])
        if portal is None:
            raise OperatorError(404, "not_found", f"no portal {request.path_params['domain']!r}")
        if request.method == "GET":
            state = await service.state(portal)
            return JSONResponse({"portal": portal.domain, **state.describe()})
        data = await self._json(request)
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
        await self.plane().refresh()
        return self._applied({"portal": portal.domain, **state.describe()})
