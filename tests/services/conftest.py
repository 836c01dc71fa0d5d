"""Helpers of the service tests: a recorder of raised events, and calls made quickly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.auth.conftest import oauth  # noqa: F401  (the fixture, for the outbox tests)
from tests.conftest import Env
from trunkline.domain.calls import CallOrigin, CallType, LineKind, NewCall
from trunkline.services.calls import CallService, EventData, event_data
from trunkline.storage.driver import Connection


@dataclass
class Raised:
    portal_id: int
    event: str
    data: dict[str, Any]
    user_id: int
    app_id: str | None
    install_id: int | None


@dataclass
class Recorder:
    """A CallEvents that keeps what is raised (committed or not: tests look at both)."""

    raised: list[Raised] = field(default_factory=list)

    async def raise_event(
        self,
        conn: Connection,
        portal_id: int,
        event: str,
        data: EventData,
        *,
        user_id: int = 0,
        app_id: str | None = None,
        install_id: int | None = None,
    ) -> None:
        made = dict(event_data(data))
        self.raised.append(Raised(portal_id, event, made, user_id, app_id, install_id))

    def names(self) -> list[str]:
        return [r.event for r in self.raised]


def calls_of(env: Env) -> CallService:
    assert env.app.services is not None
    return env.app.services.calls


@pytest.fixture
def recorder(env: Env) -> Recorder:
    recording = Recorder()
    calls_of(env).events = recording
    return recording


def new_call(env: Env, phone: str = "79780000001", **fields: Any) -> NewCall:
    calls = calls_of(env)
    values: dict[str, Any] = {
        "call_id": calls.new_call_id("externalCall", env.portal),
        "call_type": CallType.OUTGOING,
        "origin": CallOrigin.REST_APP,
        "line_kind": LineKind.REST_APP,
        "portal_number": "REST_APP:",
        "user_id": 1,
        "phone_number": phone,
        "started_at": calls.clock.now(),
    }
    values.update(fields)
    return NewCall(**values)
