"""The request journal: every REST call and batch command, read and counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Env, make_env
from tests.web.conftest import AUTH, TOKEN, error_of, op
from trunkline.storage.url import DatabaseUrl


def rows(env: Env, **query: Any) -> list[dict[str, Any]]:
    response = env.client.get("/operator/requests", params=query, headers=AUTH)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["requests"]
    return found


def count(env: Env, **matcher: Any) -> int:
    return int(op(env, "POST", "/operator/requests/count", matcher)["count"])


def test_every_call_is_recorded_with_secrets_masked(ops: Env):
    ops.add_line(TITLE="A", PASSWORD="s3cret")
    ops.call("voximplant.sip.get", {"FILTER": {"TITLE": "A"}})
    ops.client.post("/rest/1/wrongcode/voximplant.sip.get")
    found = rows(ops)
    assert [r["method"] for r in found] == [
        "voximplant.sip.add",
        "voximplant.sip.get",
        "voximplant.sip.get",
    ]
    added = found[0]
    assert added["portal"] == "test.bitrix24.com"
    assert added["principal"].startswith("webhook:") and added["user"] == 1
    assert added["params"]["PASSWORD"] == "***" and added["params"]["TITLE"] == "A"
    assert added["status"] == 200 and added["error"] is None and added["ms"] >= 0
    assert found[1]["params"] == {"FILTER": {"TITLE": "A"}}
    assert found[2]["status"] == 401 and found[2]["error"] == "INVALID_CREDENTIALS"
    assert found[2]["principal"] is None
    assert "s3cret" not in str(found)


def test_batch_is_recorded_per_command(ops: Env):
    batch = {
        "halt": 0,
        "cmd": {
            "a": "voximplant.sip.get",
            "b": "voximplant.sip.status?REG_ID=999999&auth=topsecret",
            "c": "voximplant.sip.get?FILTER[TITLE]=x",
        },
    }
    assert ops.call("batch", batch).status_code == 200
    assert count(ops, method="voximplant.sip.get") == 2
    assert count(ops, method="voximplant.sip.get", batch=True) == 2
    assert count(ops, method="batch") == 1
    assert count(ops, method="voximplant.sip.status", status=400) == 1
    assert count(ops, params={"FILTER": {"TITLE": "x"}}) == 1
    assert "topsecret" not in str(rows(ops))


def test_filters(ops: Env):
    other = op(
        ops,
        "POST",
        "/operator/portals",
        {"domain": "other.example", "webhooks": [{"code": "otherhook1234567"}]},
        201,
    )
    assert other["webhooks"]
    ops.call("voximplant.sip.get")
    ops.client.post(
        "/rest/1/otherhook1234567/voximplant.sip.get", headers={"host": "other.example"}
    )
    ops.call("voximplant.nothing")
    assert [r["portal"] for r in rows(ops, portal="other.example")] == ["other.example"]
    assert len(rows(ops, method="voximplant.sip.get")) == 2
    assert [r["method"] for r in rows(ops, status=404)] == ["voximplant.nothing"]
    assert [r["error"] for r in rows(ops, error="ERROR_METHOD_NOT_FOUND")] == [
        "ERROR_METHOD_NOT_FOUND"
    ]
    first = rows(ops)[0]
    assert len(rows(ops, after=first["id"])) == 2
    assert len(rows(ops, limit=1)) == 1
    assert rows(ops, since=first["at"] + 3600) == []
    assert len(rows(ops, since="2000-01-01T00:00:00Z")) == 3
    assert count(ops, portal="test.bitrix24.com", method="voximplant.sip.get") == 1
    assert op(ops, "DELETE", "/operator/requests")["deleted"] == 3
    assert rows(ops) == []


@pytest.fixture
def small_journal(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    yield from make_env(
        "sqlite",
        database_urls,
        tmp_path_factory,
        operator_token=TOKEN,
        control_poll_ms=0,
        journal_size=3,
    )


def test_journal_keeps_the_newest_rows(small_journal: Env):
    for title in "ABCDE":
        small_journal.add_line(TITLE=title)
    kept = rows(small_journal)
    assert [r["params"]["TITLE"] for r in kept] == ["C", "D", "E"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/operator/requests"),
        ("DELETE", "/operator/requests"),
        ("POST", "/operator/requests/count"),
    ],
)
def test_journal_endpoints_need_the_token(ops: Env, method: str, path: str):
    response = ops.client.request(method, path, json={})
    assert error_of(response) == (401, "invalid_operator_token", "Missing or wrong operator token.")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"colour": "red"}, "unknown parameter colour"),
        ({"limit": "0"}, "limit must be 1 to 10000, got '0'"),
        ({"limit": "x"}, "limit must be 1 to 10000, got 'x'"),
        ({"status": "ok"}, "status must be an HTTP status, got 'ok'"),
        ({"since": "yesterday"}, "since must be seconds since the epoch or an ISO 8601 time"),
        ({"batch": "maybe"}, "batch must be true or false, got 'maybe'"),
        ({"after": "x"}, "after must be a row id, got 'x'"),
    ],
)
def test_bad_journal_query_is_400(ops: Env, query: dict[str, str], message: str):
    response = ops.client.get("/operator/requests", params=query, headers=AUTH)
    status, code, text = error_of(response)
    assert (status, code) == (400, "invalid_request")
    assert text.startswith(message), text


@pytest.mark.parametrize(
    ("matcher", "message"),
    [
        ([], "the body must be a JSON object"),
        ({"url": "/rest"}, "unknown matcher field url"),
        ({"params": []}, "params must be an object"),
        ({"method": 5}, "method must be a string, got 5"),
        ({"status": "x"}, "status must be an HTTP status"),
        ({"since": True}, "since must be seconds since the epoch"),
        ({"batch": "x"}, "batch must be true or false"),
    ],
)
def test_bad_matcher_is_400(ops: Env, matcher: Any, message: str):
    response = ops.client.post("/operator/requests/count", json=matcher, headers=AUTH)
    status, code, text = error_of(response)
    assert (status, code) == (400, "invalid_request")
    assert text.startswith(message), text
