"""What the call observers (the request journal, the access log, metrics) are handed:
one :class:`CallRecord` per answered call and per ``batch`` command; and the id of the HTTP
request being answered (``request_id``: set by the web app, returned in ``X-Request-Id``,
written by the JSON log)."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any, Protocol

from trunkline.domain.principal import Principal
from trunkline.domain.values import request_value

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("trunkline_request_id", default="")


@request_value
class CallRecord:
    """One answered call, as the observers see it."""

    method: str  # lower-cased wire name; "" when the path named no method
    params: Mapping[str, Any]  # as parsed, secrets included: observers mask them
    principal: Principal | None  # None when the call failed before authentication
    host: str | None  # the Host header
    http_status: int
    error_code: str | None  # None on success
    seconds: float  # real elapsed time (monotonic), not the application clock
    batch: bool = False  # a command inside ``batch``


class CallObserver(Protocol):
    def __call__(self, record: CallRecord) -> None: ...
