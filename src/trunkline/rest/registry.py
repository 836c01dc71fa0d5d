"""The method registry: wire name -> handler, scope, right and batch rule.

Keys are the exact lower-case method names (``"voximplant.sip.add"``); lookups
lower-case the requested name first, as the core does. ``docs/methods.md`` is
generated from the registry (``trunkline docs methods``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trunkline.domain.principal import Principal, Right
from trunkline.rest.record import CallObserver, CallRecord
from trunkline.services.bundle import Services


@dataclass(slots=True)
class Result:
    """What a handler returns: the ``result`` plus list navigation."""

    result: Any
    total: int | None = None
    next: int | None = None


class Pipeline(Protocol):
    """``rest.dispatch.Dispatcher`` as handlers see it (``batch``, ``methods``)."""

    @property
    def registry(self) -> Registry: ...

    @property
    def observers(self) -> Sequence[CallObserver]: ...

    def observe(self, record: CallRecord) -> None: ...

    def command(self, name: str) -> Method: ...

    async def run_in_batch(
        self, name: str, params: dict[str, Any], principal: Principal
    ) -> tuple[Result, dict[str, Any]]: ...


@dataclass(slots=True)
class Call:
    """One method call as its handler sees it."""

    method: str
    params: dict[str, Any]
    principal: Principal
    start: int  # the `start` parameter, intval'd; 0 when absent
    services: Services
    dispatcher: Pipeline
    depth: int = 0  # 1 inside batch
    base_url: str = ""  # scheme://Host of the request ("" inside batch)


Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    handler: Handler
    scope: str | None  # None: a global method any caller may use
    batchable: bool = True
    list_method: bool = False
    right: Right | None = None  # a right the calling user needs (checked by the dispatcher)


@dataclass
class Registry:
    methods: dict[str, Method] = field(default_factory=dict)

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        scope: str | None,
        batchable: bool = True,
        list_method: bool = False,
        right: Right | None = None,
    ) -> None:
        key = name.lower()
        if key in self.methods:
            raise ValueError(f"method {name} registered twice")
        self.methods[key] = Method(key, handler, scope, batchable, list_method, right)

    def get(self, name: str) -> Method | None:
        return self.methods.get(name.lower())

    def __iter__(self) -> Iterator[Method]:
        return iter(sorted(self.methods.values(), key=lambda m: m.name))

    def scopes(self) -> list[str]:
        return sorted({m.scope for m in self.methods.values() if m.scope})
