"""The operator API's common ground: the token check, the one error renderer, JSON bodies.

Every request under ``/operator/`` needs ``Authorization: Bearer <operator_token>``. With
no ``operator_token`` set every endpoint answers 403; a missing or wrong token 401. Bad
input answers 400 with a message naming what is wrong.

Errors have the shape ``{"error": <code>, "error_description": <text>}`` with the
status: 403 ``operator_disabled``, 401 ``invalid_operator_token``, 400
``invalid_request``, 404 ``not_found``, 409 ``conflict`` (a portal, user or snapshot
that exists already); :func:`error_response` is their one renderer.

Each subject (faults and portal states in ``limits.py``, and so on) is a module of this
package with a ``routes(api)`` function; ``__init__`` assembles them.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from trunkline.limits.faults import FaultError
from trunkline.limits.states import StateError
from trunkline.services.bundle import ServiceBundle
from trunkline.services.clock import ClockError, ClockService
from trunkline.services.control import ControlService
from trunkline.services.journal import JournalError, JournalService
from trunkline.services.registrations import RegistrationService
from trunkline.services.scenario import ScenarioConflictError, ScenarioError
from trunkline.services.simulator import SimulatorError
from trunkline.services.snapshots import SnapshotError, SnapshotService
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


INPUT_ERRORS = (
    OperatorError,
    FaultError,
    StateError,
    ScenarioError,
    SnapshotError,
    JournalError,
    ClockError,
    SimulatorError,
)


def error_response(exc: Exception) -> JSONResponse:
    """The one renderer of operator API errors; invalid input (a fault, state or scenario
    the operator asked for) is 400 ``invalid_request`` with the validator's message, a
    name that is taken 409 ``conflict``."""
    if isinstance(exc, ScenarioConflictError):
        exc = OperatorError(409, "conflict", str(exc))
    elif not isinstance(exc, OperatorError):
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
        *,
        bundle: Callable[[], ServiceBundle] | None = None,
        snapshots: Callable[[], SnapshotService] | None = None,
        reseed: Callable[..., Awaitable[dict[str, Any]]] | None = None,
        journal: Callable[[], JournalService] | None = None,
        clock: Callable[[], ClockService] | None = None,
        registrations: Callable[[], RegistrationService] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.plane = plane
        self.methods = methods
        self._bundle = bundle
        self._snapshots = snapshots
        self._reseed = reseed
        self._journal = journal
        self._clock = clock
        self._registrations = registrations

    def clock(self) -> ClockService:
        """The virtual clock."""
        assert self._clock is not None, "the operator API was built without a clock"
        return self._clock()

    def journal(self) -> JournalService:
        """The request journal (reading it writes this worker's pending rows first)."""
        assert self._journal is not None, "the operator API was built without a journal"
        return self._journal()

    def registrations(self) -> RegistrationService:
        """Each line's registration history, office lines' bindings."""
        assert self._registrations is not None, "the operator API was built without them"
        return self._registrations()

    def services(self) -> ServiceBundle:
        """The worker's services (portals, users, apps, lines, calls)."""
        assert self._bundle is not None, "the operator API was built without services"
        return self._bundle()

    def snapshots(self) -> SnapshotService:
        """Portal deletes, resets and snapshots."""
        assert self._snapshots is not None, "the operator API was built without snapshots"
        return self._snapshots()

    async def reseed(
        self, base: str, password_hash: str | None, only: str | None = None
    ) -> dict[str, Any]:
        """The start-up seed and ``--seed``'s portal again, where missing (``only``: just
        the one with that domain)."""
        assert self._reseed is not None, "the operator API was built without a seed"
        return await self._reseed(base, password_hash, only)

    def base_url(self, request: Request) -> str:
        """This server's URL as clients reach it: ``public_url``, else the request's."""
        return self.settings.public_url or str(request.base_url).rstrip("/")

    def guarded(self, handler: Handler) -> Handler:
        """``handler`` behind the token check, its errors rendered by :func:`error_response`."""

        async def endpoint(request: Request) -> Response:
            try:
                self._authorize(request)
                return await handler(request)
            except INPUT_ERRORS as exc:
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

    async def json(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); 400 otherwise."""

        body = await request.body()
        if not body:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise OperatorError(400, "invalid_request", "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise OperatorError(400, "invalid_request", "the body must be a JSON object")
        return data

    def applied(self, data: dict[str, Any], status: int = 200) -> JSONResponse:
        """A control change's answer: it applies to the other workers within the poll."""

        data["applies_within_ms"] = self.settings.control_poll_ms
        return JSONResponse(data, status_code=status)
