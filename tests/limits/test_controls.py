"""Portal states, injected faults, the operator endpoints, health and Redis outages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Env, make_env
from tests.limits.conftest import REDIS_URL, install_clock, require_redis
from trunkline.limits.states import PortalState
from trunkline.storage.url import DatabaseUrl

TOKEN = "op-secret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """The app (limits off) with an operator token."""
    yield from make_env(
        "sqlite", database_urls, tmp_path_factory, operator_token=TOKEN, control_poll_ms=0
    )


def set_state(env: Env, **body: Any) -> Any:
    response = env.client.post(
        f"/operator/portals/{env.portal.domain}/state", json=body, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return response.json()


def add_fault(env: Env, **body: Any) -> dict[str, Any]:
    response = env.client.post("/operator/faults", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    fault: dict[str, Any] = response.json()["fault"]
    return fault


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


# -- portal states ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"blocked": True}, (503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")),
        ({"closed": True}, (403, "PORTAL_DELETED", "Portal was deleted")),
        (
            {"plan": "free"},
            (401, "ACCESS_DENIED", "REST is available only on commercial plans."),
        ),
        ({"hold": ["webhooks"]}, (503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")),
    ],
)
def test_portal_state_answers_every_call(ops, change, expected):
    assert ops.app.rest is not None and ops.app.rest.dispatcher.guard is None
    set_state(ops, **change)
    assert error_of(ops.call("voximplant.sip.get", {})) == expected
    assert error_of(ops.call("batch", {"cmd": {"a": "scope"}})) == expected
    back = {"blocked": False, "closed": False, "plan": "standard", "release": ["all"]}
    assert set_state(ops, **back)["hold"] == []
    assert ops.call("voximplant.sip.get", {}).status_code == 200
    assert ops.app.rest.dispatcher.guard is None  # nothing active again: no hook


def test_hold_of_one_webhook_spares_the_others(ops):
    other = ops.webhook(1)
    hooks = ops.run(ops.app.store.accounts.list_webhooks, ops.portal.id)
    first = min(h.id for h in hooks)
    set_state(ops, hold=[f"webhook:{first}"])
    assert ops.call("voximplant.sip.get", {}).status_code == 503
    assert ops.call("voximplant.sip.get", {}, hook=other).status_code == 200


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"blocked": True}, (503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.")),
        ({"closed": True}, (403, "PORTAL_DELETED", "Portal was deleted")),
    ],
)
def test_block_and_closed_portal_win_over_404_and_bad_credentials(ops, change, expected):
    # rest-protocol.md §3: a manual block (infrastructure, step 1) and a closed
    # portal (step 3) come before the method lookup (4) and authentication (5).
    set_state(ops, **change)
    host = {"host": ops.portal.domain}  # the portal's own address names it
    assert error_of(ops.call("no.such.method", {}, headers=host)) == expected
    assert error_of(ops.call("scope", {}, hook="/rest/1/wrongcode/", headers=host)) == expected
    assert error_of(ops.call("voximplant.sip.get", {}, headers=host)) == expected
    # Without a Host naming it the portal is known only from the credential: the
    # lookup and authentication answer first, then the state.
    assert ops.call("no.such.method", {}).status_code == 404
    assert ops.call("scope", {}, hook="/rest/1/wrongcode/").status_code == 401
    assert error_of(ops.call("voximplant.sip.get", {})) == expected
    # Batch commands still look their methods up as before.
    set_state(ops, blocked=False, closed=False)
    other = ops.run(ops.accounts.create_portal, "blocked.bitrix24.com")
    ops.run(ops.app.control.repo.save_state, PortalState(other.id, blocked=True))
    ops.run(ops.app.control.refresh)
    assert ops.app.rest is not None and ops.app.rest.dispatcher.guard is not None
    body = ops.ok("batch", {"cmd": {"a": "no.such.method", "b": "scope"}}, headers=host)
    assert body["result"]["result_error"]["a"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert ops.call("no.such.method", {}, headers=host).status_code == 404  # not this portal


@pytest.mark.parametrize("state", [{"plan": "free"}, {"hold": ["webhooks"]}])
def test_plan_and_hold_come_after_the_lookup(ops, state):
    # §5: these are answered "via auth" (step 5), after the 404 of step 4.
    set_state(ops, **state)
    host = {"host": ops.portal.domain}
    assert ops.call("no.such.method", {}, headers=host).status_code == 404
    assert ops.call("voximplant.sip.get", {}, headers=host).status_code in (401, 503)


def test_portal_limits_on_limits_that_portal_only(ops):
    install_clock(ops)
    set_state(ops, limits="on")
    codes = [ops.call("voximplant.sip.get", {}).status_code for _ in range(51)]
    assert codes.count(200) == 50 and codes[-1] == 503


def test_portal_state_rejects_bad_input(ops):
    url = f"/operator/portals/{ops.portal.domain}/state"
    cases = [
        ({"plan": "gold"}, "unknown plan 'gold'; plans: standard, enterprise, free"),
        ({"limits": "maybe"}, "unknown limits mode 'maybe'; modes: default, on, off"),
        ({"hold": ["robots"]}, "cannot hold 'robots': use webhooks, apps, webhook:<id> or"),
        ({"blocked": "yes"}, "blocked must be true or false"),
        ({"colour": "red"}, "unknown field(s): colour"),
    ]
    for body, text in cases:
        response = ops.client.post(url, json=body, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["error_description"].startswith(text)
    missing = ops.client.get("/operator/portals/nowhere.example/state", headers=AUTH)
    assert missing.status_code == 404


# -- faults ---------------------------------------------------------------------------


def test_fault_answers_the_next_n_calls_then_stops(ops):
    fault = add_fault(ops, kind="query-limit", method="voximplant.sip.get", count=2)
    assert fault["remaining"] == 2 and fault["portal_id"] is None
    answers = [ops.call("voximplant.sip.get", {}) for _ in range(3)]
    assert [r.status_code for r in answers] == [503, 503, 200]
    assert answers[0].json() == {
        "error": "QUERY_LIMIT_EXCEEDED",
        "error_description": "Too many requests",
    }
    assert ops.call("scope", {}).status_code == 200  # another method is untouched
    listed = ops.client.get("/operator/faults", headers=AUTH).json()["faults"]
    assert [f["remaining"] for f in listed] == [0]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "operation-time",
            (429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
        ),
        ("internal-error", (500, "INTERNAL_SERVER_ERROR", "Internal server error")),
        ("expired_token", (401, "expired_token", "The access token provided has expired")),
        ("QUERY_LIMIT_EXCEEDED", (503, "QUERY_LIMIT_EXCEEDED", "Too many requests")),
    ],
)
def test_fault_kinds_answer_their_error(ops, kind, expected):
    add_fault(ops, kind=kind, portal=ops.portal.domain, count=1)
    assert error_of(ops.call("voximplant.sip.get", {})) == expected
    assert ops.call("voximplant.sip.get", {}).status_code == 200


def test_fault_share_hits_about_that_share(ops):
    add_fault(ops, kind="internal-error", share=0.5)
    codes = [ops.call("scope", {}).status_code for _ in range(200)]
    assert 60 <= codes.count(500) <= 140


def test_fault_latency_delays_then_serves(ops):
    add_fault(ops, kind="latency", latency_ms=150, count=1)
    began = time.monotonic()
    assert ops.call("scope", {}).status_code == 200
    assert time.monotonic() - began >= 0.15


def test_fault_hits_its_method_inside_batch(ops):
    add_fault(ops, kind="query-limit", method="voximplant.sip.get", count=1)
    body = ops.ok("batch", {"cmd": {"a": "scope", "b": "voximplant.sip.get", "c": "scope"}})
    result = body["result"]
    assert result["result_error"] == {
        "b": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    }
    assert sorted(result["result"]) == ["a", "c"]
    assert ops.call("voximplant.sip.get", {}).status_code == 200  # the count is spent


@pytest.mark.parametrize(
    ("kind", "error"),
    [("expired-token", "expired_token"), ("operation-time", "OPERATION_TIME_LIMIT")],
)
def test_fault_for_every_method_hits_batch_then_its_commands(ops, kind, error):
    add_fault(ops, kind=kind, share=0.5)
    assert ops.app.control is not None
    draws = iter([0.1, 0.9, 0.1, 0.9])  # hit the batch; miss it, hit a, miss b
    ops.app.control.guard.random = lambda: next(draws)
    assert ops.call("batch", {"cmd": {"a": "scope"}}).json()["error"] == error
    body = ops.ok("batch", {"cmd": {"a": "scope", "b": "scope"}})
    assert body["result"]["result_error"]["a"]["error"] == error
    assert list(body["result"]["result"]) == ["b"]


def test_fault_of_another_portal_does_not_match(ops):
    other = ops.run(ops.accounts.create_portal, "other.bitrix24.com")
    add_fault(ops, kind="query-limit", portal=other.domain)
    assert ops.call("scope", {}).status_code == 200


def test_faults_clear_one_or_all(ops):
    one = add_fault(ops, kind="query-limit")
    add_fault(ops, kind="internal-error", method="scope")
    cleared = ops.client.delete(f"/operator/faults/{one['id']}", headers=AUTH).json()
    assert cleared["cleared"] == 1
    assert ops.call("voximplant.sip.get", {}).status_code == 200
    assert ops.client.delete("/operator/faults", headers=AUTH).json()["cleared"] == 1
    assert ops.call("scope", {}).status_code == 200
    assert ops.client.delete("/operator/faults/999", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "kind is required"),
        ({"kind": "explode"}, "unknown fault kind 'explode'; kinds: query-limit,"),
        ({"kind": "drop", "count": -1}, "count must be a positive whole number, got -1"),
        ({"kind": "drop", "count": 1.5}, "count must be a positive whole number"),
        ({"kind": "drop", "count": "many"}, "count must be a number, got 'many'"),
        ({"kind": "drop", "share": 0}, "share must be above 0 and at most 1, got 0"),
        ({"kind": "drop", "share": 2}, "share must be above 0 and at most 1"),
        ({"kind": "latency"}, "a latency fault needs latency_ms between 1 and 120000"),
        ({"kind": "drop", "latency_ms": 5}, "latency_ms applies only to the latency kind"),
        ({"kind": "drop", "method": "no.such.method"}, "unknown method 'no.such.method'"),
        ({"kind": "drop", "portal": "nowhere.example"}, "no portal 'nowhere.example'"),
        ({"kind": "drop", "when": "now"}, "unknown field(s): when"),
    ],
)
def test_fault_rejects_bad_input(ops, body, text):
    response = ops.client.post("/operator/faults", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith(text)


def test_operator_endpoints_need_the_token(ops):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        response = ops.client.get("/operator/faults", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_operator_token"


def test_operator_endpoints_are_off_without_a_token(sqlite_env):
    response = sqlite_env.client.get("/operator/faults", headers=AUTH)
    assert response.status_code == 403
    assert "set operator_token" in response.json()["error_description"]


def test_operator_endpoints_are_not_under_rest(ops):
    response = ops.client.get("/rest/operator/faults", headers=AUTH)
    assert response.status_code == 404  # an unknown REST method, nothing more


# -- health and Redis ---------------------------------------------------------------


def test_health_reports_redis_ok(database_urls, tmp_path_factory):
    require_redis()
    for env in make_env(
        "sqlite", database_urls, tmp_path_factory, limits=True, redis_url=REDIS_URL
    ):
        body = env.client.get("/health").json()
        assert (body["status"], body["redis"], body["limits"]) == ("ok", "ok", "on")


def test_redis_down_keeps_serving_and_says_so(database_urls, tmp_path_factory, caplog):
    down = "redis://127.0.0.1:1/0"
    for env in make_env("sqlite", database_urls, tmp_path_factory, limits=True, redis_url=down):
        assert env.call("voximplant.sip.get", {}).status_code == 200
        response = env.client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["database"], body["redis"]) == (
            "degraded",
            "ok",
            "unreachable",
        )
    assert any("Redis is unreachable" in r.getMessage() for r in caplog.records)


def test_redis_down_fail_closed_refuses(database_urls, tmp_path_factory):
    down = "redis://127.0.0.1:1/0"
    settings = {"limits": True, "redis_url": down, "redis_fail_closed": True}
    for env in make_env("sqlite", database_urls, tmp_path_factory, **settings):
        assert error_of(env.call("voximplant.sip.get", {})) == (
            503,
            "QUERY_LIMIT_EXCEEDED",
            "Too many requests",
        )
        assert env.client.get("/health").status_code == 503
