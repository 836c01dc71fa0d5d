"""Helpers for tests that wait for events, through the operator API of a running server
(``/operator/events/...``, ``docs/events.md``).

    from trunkline.testing.events import fire_event, wait_delivered

    mark = fire_event(server.base_url, server.operator_token, "OnAppTest", {"A": "1"})
    wait_delivered(server.base_url, server.operator_token, "OnAppTest", 1, after=mark)

``await_delivered`` does the same with an HTTP client of your own (the ``inprocess()``
client, or any ``httpx.AsyncClient``). A wait that times out raises
:class:`EventsNotDeliveredError` (an ``AssertionError``) saying how many arrived.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class EventsNotDeliveredError(AssertionError):
    """Fewer deliveries than awaited within the timeout."""


def _wait_body(
    event: str, count: int, timeout: float, portal: str | None, outcome: str, after: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": event,
        "count": count,
        "timeout": timeout,
        "outcome": outcome,
        "after": after,
    }
    if portal:
        body["portal"] = portal
    return body


def _post(base_url: str, token: str, path: str, body: dict[str, Any], timeout: float) -> Any:
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
        if exc.code == 408:
            raise EventsNotDeliveredError(answer.get("error_description", "timeout")) from None
        raise AssertionError(f"{path}: HTTP {exc.code} {answer}") from None


def wait_delivered(
    base_url: str,
    operator_token: str,
    event: str,
    count: int = 1,
    *,
    timeout: float = 10.0,
    portal: str | None = None,
    outcome: str = "delivered",
    after: int = 0,
) -> int:
    """Wait until ``count`` deliveries of ``event`` ended with ``outcome`` (journal ids
    above ``after``); how many did."""
    body = _wait_body(event, count, timeout, portal, outcome, after)
    found: int = _post(base_url, operator_token, "/operator/events/wait", body, timeout + 5)[
        "count"
    ]
    return found


def fire_event(
    base_url: str,
    operator_token: str,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    portal: str | None = None,
    user_id: int = 0,
    app: str | None = None,
) -> int:
    """Raise ``event`` on the server; the journal id to wait ``after``."""
    body: dict[str, Any] = {"event": event, "data": data or {}, "user_id": user_id}
    if portal:
        body["portal"] = portal
    if app:
        body["app"] = app
    mark: int = _post(base_url, operator_token, "/operator/events/fire", body, 10)["after"]
    return mark


async def await_delivered(
    client: Any,
    operator_token: str,
    event: str,
    count: int = 1,
    *,
    timeout: float = 10.0,
    portal: str | None = None,
    outcome: str = "delivered",
    after: int = 0,
) -> int:
    """:func:`wait_delivered` through ``client`` (an ``httpx.AsyncClient``)."""
    answer = await client.post(
        "/operator/events/wait",
        json=_wait_body(event, count, timeout, portal, outcome, after),
        headers={"Authorization": f"Bearer {operator_token}"},
        timeout=timeout + 5,
    )
    if answer.status_code == 408:
        raise EventsNotDeliveredError(answer.json().get("error_description", "timeout"))
    if answer.status_code != 200:
        raise AssertionError(f"/operator/events/wait: HTTP {answer.status_code} {answer.text}")
    found: int = answer.json()["count"]
    return found
