"""What the call observers (the request journal, the access log, metrics) are handed:
one :class:`CallRecord` per answered call and per ``batch`` command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from trunkline.domain.principal import Principal


@dataclass(frozen=True, slots=True)
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
