"""GET /operator/events (the delivery journal with filters), POST /operator/events/fire
(any event, any payload) and POST /operator/events/wait (N deliveries of an event, with a
timeout); trunkline.testing.events.await_delivered through an in-process client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import Env
from tests.web.conftest import AUTH, error_of, op
from trunkline.testing.events import EventsNotDeliveredError, await_delivered
from trunkline.testing.handler import EventReceiver


def bound_app(env: Env, url: str, *events: str) -> str:
    """An app installed on the test portal with handlers of ``events``; its client id."""
    services = env.app.services
    assert services is not None and env.app.store is not None
    created = env.run(services.apps.create_app, title="t")
    installed = env.run(services.apps.install, env.portal, created.app.client_id, 1, "http://t")
    for event in events:
        env.run(
            env.app.store.events.bind,
            env.portal.id,
            installed.installation.id,
            event.upper(),
            url,
            now=time.time(),
        )
    return str(created.app.client_id)


def test_fire_then_wait_then_read_the_journal(ops: Env) -> None:
    with EventReceiver() as receiver:
        client_id = bound_app(ops, receiver.url, "OnExternalCallStart")
        body = {"event": "OnExternalCallStart", "data": {"CALL_ID": "c1"}, "user_id": 1}
        fired = op(ops, "POST", "/operator/events/fire", body)
        assert fired["queued"] == 1 and isinstance(fired["after"], int)
        waited = {"event": "onexternalcallstart", "count": 1, "after": fired["after"]}
        assert op(ops, "POST", "/operator/events/wait", waited) == {"count": 1}
        [form] = receiver.wait(1)
    assert dict(form)["data[CALL_ID]"] == "c1"
    [row] = op(ops, "GET", f"/operator/events?event=ONEXTERNALCALLSTART&app={client_id}")["events"]
    assert (row["outcome"], row["status"], row["handler"], row["app"]) == (
        "delivered",
        200,
        receiver.url,
        client_id,
    )
    assert set(row) == {
        "id",
        "time",
        "portal_id",
        "event",
        "app",
        "handler",
        "attempt",
        "outcome",
        "status",
        "reason",
        "ms",
        "binding_id",
        "outbox_id",
    }


def test_journal_filters(ops: Env) -> None:
    op(ops, "POST", "/operator/events/fire", {"event": "OnAppTest"})  # nobody bound
    op(ops, "POST", "/operator/events/fire", {"event": "OnAppUpdate"})
    refused = op(ops, "GET", "/operator/events?outcome=refused")["events"]
    assert [(r["event"], r["reason"]) for r in refused] == [
        ("ONAPPTEST", "no binding"),
        ("ONAPPUPDATE", "no binding"),
    ]
    [last] = op(ops, "GET", "/operator/events?limit=1")["events"]
    assert last["event"] == "ONAPPUPDATE"
    after = op(ops, "GET", f"/operator/events?after={refused[0]['id']}")["events"]
    assert [r["event"] for r in after] == ["ONAPPUPDATE"]
    assert op(ops, "GET", "/operator/events?portal=test.bitrix24.com&event=onapptest")["events"]
    assert op(ops, "GET", "/operator/events?outcome=delivered")["events"] == []


def test_wait_times_out_with_what_arrived(ops: Env) -> None:
    body = {"event": "OnAppTest", "count": 2, "timeout": 0.1}
    response = ops.client.post("/operator/events/wait", json=body, headers=AUTH)
    assert error_of(response) == (408, "timeout", "0 of 2 ONAPPTEST delivered within 0.1 s")
    body = {"event": "OnAppTest", "outcome": "refused", "timeout": 1}
    op(ops, "POST", "/operator/events/fire", {"event": "OnAppTest"})
    assert op(ops, "POST", "/operator/events/wait", body) == {"count": 1}


BAD = [
    ("GET", "/operator/events?colour=red", None, 400, "unknown parameter colour"),
    ("GET", "/operator/events?limit=0", None, 400, "limit must be 1 to 10000"),
    ("GET", "/operator/events?outcome=maybe", None, 400, "outcome must be one of"),
    ("GET", "/operator/events?portal=nowhere.example", None, 404, "no portal 'nowhere.example'"),
    ("POST", "/operator/events/fire", {}, 400, "event must be an event name"),
    ("POST", "/operator/events/fire", {"event": "X", "data": [1]}, 400, "data must be a JSON"),
    ("POST", "/operator/events/fire", {"event": "X", "user_id": -1}, 400, "user_id must be"),
    ("POST", "/operator/events/fire", {"event": "X", "colour": 1}, 400, "unknown field colour"),
    ("POST", "/operator/events/fire", {"event": "X", "app": "local.x.y"}, 404, "not installed"),
    ("POST", "/operator/events/wait", {"event": "X", "count": 0}, 400, "count must be"),
    ("POST", "/operator/events/wait", {"event": "X", "timeout": 301}, 400, "timeout must be"),
    ("POST", "/operator/events/wait", {"event": "X", "timeout": "soon"}, 400, "timeout must be"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "text"), BAD)
def test_bad_input(ops: Env, method: str, path: str, body: Any, status: int, text: str) -> None:
    kwargs: dict[str, Any] = {"headers": AUTH}
    if body is not None:
        kwargs["json"] = body
    response = ops.client.request(method, path, **kwargs)
    code, _, description = error_of(response)
    assert code == status and text in description, response.text
    assert op(ops, "GET", "/operator/events")["events"] == []  # nothing raised


def test_the_operator_token_is_needed(ops: Env) -> None:
    response = ops.client.post("/operator/events/fire", json={"event": "OnAppTest"})
    assert error_of(response)[:2] == (401, "invalid_operator_token")


def test_await_delivered_in_process(tmp_path: Any) -> None:
    from trunkline.testing import inprocess

    async def scenario() -> None:
        async with inprocess(operator_token="tok") as client:
            with pytest.raises(EventsNotDeliveredError, match="0 of 1 ONAPPTEST"):
                await await_delivered(client, "tok", "OnAppTest", timeout=0.05)
            headers = {"Authorization": "Bearer tok"}
            fired = await client.post(
                "/operator/events/fire", json={"event": "OnAppTest"}, headers=headers
            )
            assert fired.status_code == 200, fired.text
            found = await await_delivered(client, "tok", "OnAppTest", outcome="refused")
            assert found == 1

    asyncio.run(scenario())
