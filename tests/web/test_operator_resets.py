"""Clean slates: a portal reset, everything reset, snapshots saved and put back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Env
from tests.web.conftest import AUTH, error_of, op

ACME: dict[str, Any] = {
    "domain": "acme.example",
    "webhooks": [{"user": 1, "code": "acmehook12345678"}],
    "apps": [{"title": "Dialer"}],
    "lines": [
        {"type": "office", "title": "PBX", "server": "pbx.example", "login": "u1", "password": "p"},
        {"type": "cloud", "title": "Cloud", "server": "sip.example", "login": "c1", "app": 0},
    ],
}
ACME_HOOK = "/rest/1/acmehook12345678/"
ACME_HOST = {"host": "acme.example"}


def sip_get(env: Env, hook: str, headers: dict[str, str] | None = None) -> bytes:
    response = env.client.post(hook + "voximplant.sip.get", headers=headers or {})
    assert response.status_code == 200, response.text
    body = response.json()
    del body["time"]  # the moment of the call
    return repr(body).encode()


def test_reset_one_portal_leaves_the_others(ops_any: Env):
    ops = ops_any
    op(ops, "POST", "/operator/portals", ACME, 201)
    ops.add_line(TITLE="Test's own")
    before = sip_get(ops, ops.hook)
    answer = op(ops, "DELETE", "/operator/portals/acme.example")
    assert answer == {"deleted": "acme.example"}
    gone = ops.client.post(ACME_HOOK + "voximplant.sip.get", headers=ACME_HOST)
    assert gone.json()["error"] == "INVALID_CREDENTIALS"
    assert sip_get(ops, ops.hook) == before
    assert [p["domain"] for p in op(ops, "GET", "/operator/portals")["portals"]] == [
        "test.bitrix24.com"
    ]
    op(ops, "POST", "/operator/portals", ACME, 201)  # the domain can be made again at once
    assert ops.client.post(ACME_HOOK + "voximplant.sip.get", headers=ACME_HOST).status_code == 200


def test_reset_everything_seeds_again(ops: Env):
    op(ops, "POST", "/operator/portals", ACME, 201)
    op(ops, "POST", f"/operator/portals/{ops.portal.domain}/snapshot", {"name": "s"}, 201)
    answer = op(ops, "POST", "/operator/reset")
    assert answer["deleted"]["portals"] == 2 and answer["deleted"]["snapshots"] == 1
    assert answer["seeded"]["portal"] == "trunkline.local"
    hook = answer["seeded"]["webhook_url"].removeprefix("http://testserver")
    assert ops.client.post(hook + "voximplant.sip.get").json()["result"] == []
    again = op(ops, "POST", "/operator/reset")  # the same webhook code, derived from the key
    assert again["seeded"]["webhook_url"] == answer["seeded"]["webhook_url"]
    portals = op(ops, "GET", "/operator/portals")["portals"]
    assert [p["domain"] for p in portals] == ["trunkline.local"]


def test_snapshot_round_trip_is_byte_for_byte(ops_any: Env):
    ops = ops_any
    op(ops, "POST", "/operator/portals", ACME, 201)
    token = op(ops, "GET", "/operator/portals/acme.example")
    first = sip_get(ops, ACME_HOOK, ACME_HOST)
    op(ops, "POST", "/operator/portals/acme.example/snapshot", {"name": "clean"}, 201)
    config_id = ops.client.post(ACME_HOOK + "voximplant.sip.get", headers=ACME_HOST).json()[
        "result"
    ][0]["CONFIG_ID"]
    changed = ops.client.post(
        ACME_HOOK + "voximplant.sip.update",
        json={"CONFIG_ID": config_id, "TITLE": "Renamed", "PASSWORD": "new"},
        headers=ACME_HOST,
    )
    assert changed.status_code == 200, changed.text
    ops.client.post(
        ACME_HOOK + "voximplant.sip.add",
        headers=ACME_HOST,
        json={"TYPE": "office", "SERVER": "x", "LOGIN": "y", "TITLE": "Extra"},
    )
    assert sip_get(ops, ACME_HOOK, ACME_HOST) != first
    op(ops, "POST", "/operator/portals/acme.example/restore", {"name": "clean"})
    assert sip_get(ops, ACME_HOOK, ACME_HOST) == first
    assert op(ops, "GET", "/operator/portals/acme.example") == token
    # after the restore the line changes again and is read fresh, not from a cache
    ops.client.post(
        ACME_HOOK + "voximplant.sip.update",
        headers=ACME_HOST,
        json={"CONFIG_ID": config_id, "TITLE": "Other"},
    )
    titles = [
        r["TITLE"]
        for r in ops.client.post(ACME_HOOK + "voximplant.sip.get", headers=ACME_HOST).json()[
            "result"
        ]
    ]
    assert titles == ["Other"]


def test_restore_brings_back_a_deleted_portal_with_its_tokens(ops_any: Env):
    ops = ops_any
    made = op(ops, "POST", "/operator/portals", ACME, 201)
    token = made["apps"][0]["access_token"]
    op(ops, "POST", "/operator/portals/acme.example/snapshot", {"name": "s1"}, 201)
    op(ops, "DELETE", "/operator/portals/acme.example")
    op(ops, "POST", "/operator/portals/acme.example/restore", {"name": "s1"})
    by_app = ops.client.post("/rest/voximplant.sip.get", json={"auth": token}, headers=ACME_HOST)
    assert by_app.status_code == 200, by_app.text
    assert [r["TITLE"] for r in by_app.json()["result"]] == ["Cloud"]
    listed = op(ops, "GET", "/operator/portals/acme.example/snapshots")
    assert [s["name"] for s in listed["snapshots"]] == ["s1"]
    op(ops, "DELETE", "/operator/portals/acme.example/snapshots/s1")
    assert op(ops, "GET", "/operator/portals/acme.example/snapshots")["snapshots"] == []


def test_snapshot_of_one_portal_leaves_the_others(ops: Env):
    op(ops, "POST", "/operator/portals", ACME, 201)
    op(ops, "POST", "/operator/portals/acme.example/snapshot", {"name": "a"}, 201)
    ops.add_line(TITLE="After the snapshot")
    before = sip_get(ops, ops.hook)
    op(ops, "POST", "/operator/portals/acme.example/restore", {"name": "a"})
    assert sip_get(ops, ops.hook) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/operator/reset"),
        ("DELETE", "/operator/portals/test.bitrix24.com"),
        ("POST", "/operator/portals/test.bitrix24.com/snapshot"),
        ("POST", "/operator/portals/test.bitrix24.com/restore"),
        ("GET", "/operator/portals/test.bitrix24.com/snapshots"),
        ("DELETE", "/operator/portals/test.bitrix24.com/snapshots/a"),
    ],
)
def test_reset_endpoints_need_the_token(ops: Env, method: str, path: str):
    response = ops.client.request(method, path, json={"name": "a"})
    assert error_of(response) == (401, "invalid_operator_token", "Missing or wrong operator token.")
    assert op(ops, "GET", "/operator/portals")["portals"][0]["domain"] == "test.bitrix24.com"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "POST",
            "/operator/reset",
            {"all": True},
            (400, "invalid_request", "reset takes no fields"),
        ),
        (
            "DELETE",
            "/operator/portals/nowhere.example",
            None,
            (404, "not_found", "no portal 'nowhere.example'"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/snapshot",
            {},
            (400, "invalid_request", "name is required: the snapshot's name"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/snapshot",
            {"name": 5},
            (400, "invalid_request", "name is required: the snapshot's name"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/snapshot",
            {"name": "a b"},
            (400, "invalid_request", "a snapshot name is 1 to 64 of [A-Za-z0-9._-], got 'a b'"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/snapshot",
            {"name": "a", "x": 1},
            (400, "invalid_request", "unknown field x"),
        ),
        (
            "POST",
            "/operator/portals/nowhere.example/snapshot",
            {"name": "a"},
            (404, "not_found", "no portal 'nowhere.example'"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/restore",
            {"name": "missing"},
            (404, "not_found", "portal 'test.bitrix24.com' has no snapshot 'missing'"),
        ),
        (
            "POST",
            "/operator/portals/test.bitrix24.com/restore",
            [],
            (400, "invalid_request", "the body must be a JSON object"),
        ),
        (
            "DELETE",
            "/operator/portals/test.bitrix24.com/snapshots/none",
            None,
            (404, "not_found", "portal 'test.bitrix24.com' has no snapshot 'none'"),
        ),
    ],
)
def test_bad_reset_input(
    ops: Env, method: str, path: str, body: Any, expected: tuple[int, str, str]
):
    before = sip_get(ops, ops.hook)
    response = ops.client.request(method, path, json=body, headers=AUTH)
    assert error_of(response) == expected
    assert sip_get(ops, ops.hook) == before
