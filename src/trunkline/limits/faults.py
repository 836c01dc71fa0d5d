"""Injected faults: what an operator may ask for, and which calls a fault hits.

A fault answers calls of one method (or every method) of one portal (or every
portal) with a chosen failure, for the next ``count`` matching calls (across
every worker: the count lives in the database) or for a ``share`` of them
(each call drawn at random), or both (a share of calls until ``count`` are hit),
or every call until cleared. Faults act on top-level calls, after the caller is
authenticated and before anything else (limits and portal states included), and
on each command inside ``batch`` (its error lands in ``result_error``, as a real
portal's would). A fault for every method hits the ``batch`` request itself
first, then, if it let the batch through, each of its commands.

Kinds (an error code is accepted as a name too):

    query-limit      503 QUERY_LIMIT_EXCEEDED "Too many requests"
    operation-time   429 OPERATION_TIME_LIMIT
    internal-error   500 INTERNAL_SERVER_ERROR
    expired-token    401 expired_token
    latency          wait ``latency_ms`` and then serve the call normally
    drop             close the connection without an answer
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trunkline.errors import (
    ExpiredTokenError,
    InternalServerError,
    OperationTimeLimitError,
    QueryLimitExceededError,
    RestError,
)
from trunkline.limits.names import KINDS

_ALIASES = {
    "query_limit_exceeded": "query-limit",
    "operation_time_limit": "operation-time",
    "internal_server_error": "internal-error",
    "expired_token": "expired-token",
    "503": "query-limit",
    "429": "operation-time",
    "500": "internal-error",
    "401": "expired-token",
}
MAX_LATENCY_MS = 120_000


class FaultError(ValueError):
    """An operator's fault request is invalid (shown as is by the CLI and endpoint)."""


class InjectedInternalError(InternalServerError):
    expected = True  # an injected 500 is not a server failure worth a traceback


class InjectedExpiredTokenError(ExpiredTokenError):
    pass


class ConnectionDrop(BaseException):
    """Close the connection without an answer: a signal, not an error (hence no ``Error``
    in its name).

    Deliberately not an ``Exception``: no error renderer may turn it into a
    response; the application's outermost layer catches it and drops the socket.
    """


def kind_name(raw: str) -> str:
    name = raw.strip().lower().replace("_", "-")
    name = _ALIASES.get(raw.strip().lower(), name)
    if name not in KINDS:
        raise FaultError(f"unknown fault kind {raw!r}; kinds: {', '.join(KINDS)}")
    return name


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    kind: str
    portal_id: int | None = None  # None: every portal
    method: str | None = None  # None: every method; lower-case
    remaining: int | None = None  # None: no count
    share: float | None = None  # None: every matching call
    latency_ms: int = 0

    def matches(self, portal_id: int, method: str) -> bool:
        return (self.portal_id is None or self.portal_id == portal_id) and (
            self.method is None or self.method == method
        )

    def error(self) -> RestError | None:
        """The error this fault answers with (None for latency and drop)."""
        if self.kind == "query-limit":
            return QueryLimitExceededError()
        if self.kind == "operation-time":
            return OperationTimeLimitError()
        if self.kind == "internal-error":
            return InjectedInternalError()
        if self.kind == "expired-token":
            return InjectedExpiredTokenError()
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "portal_id": self.portal_id,
            "method": self.method,
            "remaining": self.remaining,
            "share": self.share,
            "latency_ms": self.latency_ms,
        }


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FaultError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise FaultError(f"{name} must be a finite number, got {value!r}")
    return number


def validate(
    *,
    kind: Any,
    method: Any = None,
    count: Any = None,
    share: Any = None,
    latency_ms: Any = None,
) -> Fault:
    """A :class:`Fault` (id 0, portal unset) from an operator's request, or FaultError."""
    if not isinstance(kind, str) or not kind.strip():
        raise FaultError("kind is required; kinds: " + ", ".join(KINDS))
    name = kind_name(kind)
    if method is not None and not isinstance(method, str):
        raise FaultError(f"method must be a method name, got {method!r}")
    method_name = method.strip().lower() or None if isinstance(method, str) else None
    remaining = _number(count, "count")
    if remaining is not None and (remaining != int(remaining) or remaining < 1):
        raise FaultError(f"count must be a positive whole number, got {count!r}")
    fraction = _number(share, "share")
    if fraction is not None and not 0 < fraction <= 1:
        raise FaultError(f"share must be above 0 and at most 1, got {share!r}")
    latency = _number(latency_ms, "latency_ms")
    if name == "latency":
        if latency is None or not 0 < latency <= MAX_LATENCY_MS:
            raise FaultError(
                f"a latency fault needs latency_ms between 1 and {MAX_LATENCY_MS}, "
                f"got {latency_ms!r}"
            )
    elif latency is not None:
        raise FaultError("latency_ms applies only to the latency kind")
    return Fault(
        0,
        name,
        method=method_name,
        remaining=None if remaining is None else int(remaining),
        share=fraction,
        latency_ms=int(latency or 0),
    )
