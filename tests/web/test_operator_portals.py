"""The operator API of portals: scenario documents, users, webhooks, apps and lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env
from tests.web.conftest import AUTH, error_of, op
from trunkline.services.scenario import FIELDS

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "scenario.schema.json"

SCENARIO: dict[str, Any] = {
    "domain": "acme.bitrix24.com",
    "title": "Acme",
    "timezone": "Europe/Berlin",
    "users": [
        {"id": 1, "login": "admin", "admin": True},
        {"id": 7, "login": "op", "name": "Olga", "line_modify": True, "phone_inner": "107"},
    ],
    "webhooks": [{"user": 1, "scopes": ["telephony"], "title": "CI"}],
    "apps": [{"title": "Dialer", "scopes": ["telephony", "crm"], "user": 7}],
    "lines": [
        {"type": "office", "title": "PBX", "server": "pbx.example.com", "login": "u1"},
        {
            "type": "cloud",
            "title": "Cloud",
            "server": "sip.example.com",
            "login": "c1",
            "password": "p",
            "app": 0,
        },
    ],
}


def test_create_portal_from_scenario(ops: Env):
    body = op(ops, "POST", "/operator/portals", SCENARIO, 201)
    assert body["portal"]["domain"] == "acme.bitrix24.com"
    assert body["portal"]["timezone"] == "Europe/Berlin"
    assert [u["id"] for u in body["users"]] == [1, 7]
    assert body["users"][1]["phone_inner"] == "107"
    assert body["users"][1]["line_modify"] is True
    hook = body["webhooks"][0]
    assert hook["url"] == f"http://testserver/rest/1/{hook['code']}/"
    app = body["apps"][0]
    assert app["installed"] is True and app["user"] == 7
    assert app["client_id"].startswith("local.") and app["client_secret"]
    assert app["access_token"] and app["refresh_token"] and app["application_token"]
    assert [line["TITLE"] for line in body["lines"]] == ["PBX", "Cloud"]
    assert body["lines"][1]["APP_ID"] == app["client_id"]


def test_scenario_webhook_and_token_work_on_the_wire(ops: Env):
    body = op(ops, "POST", "/operator/portals", SCENARIO, 201)
    hook = body["webhooks"][0]["url"].removeprefix("http://testserver")
    by_hook = ops.client.post(hook + "voximplant.sip.get", headers={"host": "acme.bitrix24.com"})
    assert by_hook.status_code == 200, by_hook.text
    assert [r["TITLE"] for r in by_hook.json()["result"]] == ["PBX"]  # its own lines only
    token = body["apps"][0]["access_token"]
    by_app = ops.client.post(
        "/rest/voximplant.sip.get", json={"auth": token}, headers={"host": "acme.bitrix24.com"}
    )
    assert by_app.status_code == 200, by_app.text
    assert [r["TITLE"] for r in by_app.json()["result"]] == ["Cloud"]


def test_read_portal_back(ops: Env):
    op(ops, "POST", "/operator/portals", SCENARIO, 201)
    read = op(ops, "GET", "/operator/portals/acme.bitrix24.com")
    assert [u["login"] for u in read["users"]] == ["admin", "op"]
    assert read["webhooks"][0]["scopes"] == ["telephony"]
    assert "code" not in read["webhooks"][0]
    assert read["apps"][0]["scopes"] == ["telephony", "crm"]
    assert len(read["lines"]) == 2
    listed = op(ops, "GET", "/operator/portals")["portals"]
    assert {p["domain"] for p in listed} >= {"acme.bitrix24.com", ops.portal.domain}
    assert op(ops, "GET", "/operator/portals/acme.bitrix24.com/users")["users"] == read["users"]


def test_scenario_with_crm_entities(ops: Env):
    scenario = {
        "domain": "crm.example",
        "users": [{"login": "admin", "admin": True}, {"login": "sales"}],
        "crm": [
            {"type": "CONTACT", "name": "Ann", "phones": ["+1 555 0100"], "assigned_by": 2},
            {"type": "LEAD", "name": "Walk-in"},
        ],
    }
    made = op(ops, "POST", "/operator/portals", scenario, 201)
    assert [(e["type"], e["name"], e["assigned_by"]) for e in made["crm"]] == [
        ("CONTACT", "Ann", 2),
        ("LEAD", "Walk-in", 1),
    ]
    read = op(ops, "GET", "/operator/portals/crm.example/crm")["entities"]
    assert [(e["name"], e["phones"]) for e in read] == [("Ann", ["+1 555 0100"]), ("Walk-in", [])]
    assert op(ops, "GET", "/operator/portals/crm.example")["crm"][0]["id"] == made["crm"][0]["id"]


def test_minimal_scenario_has_administrator_1(ops: Env):
    body = op(ops, "POST", "/operator/portals", {"domain": "Small.Example"}, 201)
    assert body["portal"]["domain"] == "small.example"
    assert [(u["id"], u["login"], u["admin"]) for u in body["users"]] == [(1, "admin", True)]
    assert body["webhooks"] == body["apps"] == body["lines"] == []


def test_add_parts_one_by_one(ops: Env):
    domain = ops.portal.domain
    user = op(
        ops,
        "POST",
        f"/operator/portals/{domain}/users",
        {"login": "bob", "phone_inner": "201"},
        201,
    )["user"]
    assert user["id"] == 2 and user["phone_inner"] == "201" and user["admin"] is False
    hook = op(
        ops,
        "POST",
        f"/operator/portals/{domain}/webhooks",
        {"user": 2, "code": "abcdefgh12345678"},
        201,
    )["webhook"]
    assert hook["url"].endswith("/rest/2/abcdefgh12345678/")
    app = op(ops, "POST", f"/operator/portals/{domain}/apps", {"install": False}, 201)["app"]
    assert app["installed"] is False and "access_token" not in app
    app = op(ops, "POST", f"/operator/portals/{domain}/apps", {"user": 1}, 201)["app"]
    line = op(
        ops,
        "POST",
        f"/operator/portals/{domain}/lines",
        {"type": "cloud", "server": "s.example", "login": "l", "client_id": app["client_id"]},
        201,
    )["line"]
    assert line["APP_ID"] == app["client_id"] and line["REG_ID"]
    lines = op(ops, "GET", f"/operator/portals/{domain}/lines")["lines"]
    assert [x["CONFIG_ID"] for x in lines] == [line["CONFIG_ID"]]
    hooks = op(ops, "GET", f"/operator/portals/{domain}/webhooks")["webhooks"]
    assert [h["user"] for h in hooks] == [1, 2]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/operator/portals", "GET"),
        ("/operator/portals", "POST"),
        ("/operator/portals/test.bitrix24.com", "GET"),
        ("/operator/portals/test.bitrix24.com/users", "GET"),
        ("/operator/portals/test.bitrix24.com/users", "POST"),
        ("/operator/portals/test.bitrix24.com/webhooks", "POST"),
        ("/operator/portals/test.bitrix24.com/apps", "POST"),
        ("/operator/portals/test.bitrix24.com/lines", "POST"),
    ],
)
def test_portal_endpoints_need_the_token(ops: Env, path: str, method: str):
    missing = ops.client.request(method, path, json={"domain": "x.example"})
    assert error_of(missing) == (401, "invalid_operator_token", "Missing or wrong operator token.")
    wrong = ops.client.request(method, path, headers={"authorization": "Bearer nope"})
    assert error_of(wrong)[:2] == (401, "invalid_operator_token")
    assert op(ops, "GET", "/operator/portals")["portals"][0]["domain"] == "test.bitrix24.com"


def with_(**changes: Any) -> dict[str, Any]:
    return {"domain": "bad.example", **changes}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body must be a JSON object"),
        ({}, "domain is required"),
        ({"domain": 5}, "domain must be a string"),
        ({"domain": "a b"}, "domain must be a host name, got 'a b'"),
        (with_(colour="red"), "unknown field colour"),
        (with_(timezone="Mars/Base"), "timezone: unknown time zone 'Mars/Base'"),
        (with_(seed_ids=-1), "seed_ids must be a non-negative integer"),
        (with_(users={}), "users must be an array"),
        (with_(users=[{"id": 1}]), "users[0].login is required"),
        (with_(users=[{"login": "a", "admin": "yes"}]), "users[0].admin must be true or false"),
        (with_(users=[{"login": "a", "id": 0}]), "users[0].id must be a positive integer"),
        (with_(users=[{"login": "a"}, {"login": "a"}]), "users[1]: the id or login is taken"),
        (with_(users=[{"login": "a", "id": True}]), "users[0].id must be an integer"),
        (with_(webhooks=[{"user": 9}]), "webhooks[0].user: the portal has no user 9"),
        (with_(webhooks=[{"scopes": ["x"]}]), "webhooks[0].scopes: unknown scope 'x'"),
        (with_(webhooks=[{"scopes": [1]}]), "webhooks[0].scopes must be an array of strings"),
        (with_(webhooks=[{"code": "SHORT"}]), "webhooks[0].code must be 8 to 32 of [a-z0-9]"),
        (with_(apps=[{"kind": "x"}]), "apps[0].kind must be local or market"),
        (with_(apps=[{"handler_url": "ftp://x"}]), "apps[0]: the handler URL must be"),
        (with_(lines=[{"app": 0}]), "lines[0].app must be the index of an entry of apps"),
        (with_(lines=[{"type": "cloud"}]), "lines[0]: "),
        (with_(lines=["x"]), "lines[0] must be a JSON object"),
        (with_(crm=[{"type": "DEAL", "name": "x"}]), "crm[0].type must be CONTACT, COMPANY"),
        (with_(crm=[{"type": "LEAD"}]), "crm[0].name is required"),
        (with_(crm=[{"type": "LEAD", "name": "x", "assigned_by": 9}]), "crm[0].assigned_by:"),
        (with_(crm=[{"type": "LEAD", "name": "x", "phones": [5]}]), "crm[0].phones must be"),
        (with_(crm=[{"type": "LEAD", "name": "x", "phones": ["abc"]}]), "crm: phone 'abc'"),
    ],
)
def test_bad_scenario_is_400_and_stores_nothing(ops: Env, body: Any, message: str):
    apps_before = op(ops, "GET", "/operator/portals")
    response = ops.client.post("/operator/portals", json=body, headers=AUTH)
    status, code, text = error_of(response)
    assert (status, code) == (400, "invalid_request")
    assert text.startswith(message), text
    assert op(ops, "GET", "/operator/portals") == apps_before
    missing = ops.client.get("/operator/portals/bad.example", headers=AUTH)
    assert error_of(missing) == (404, "not_found", "no portal 'bad.example'")


def test_scenario_body_must_be_json(ops: Env):
    response = ops.client.post("/operator/portals", content=b"{nope", headers=AUTH)
    assert error_of(response) == (400, "invalid_request", "the body must be a JSON object")


def test_taken_domain_is_409(ops: Env):
    response = ops.client.post(
        "/operator/portals", json={"domain": ops.portal.domain}, headers=AUTH
    )
    assert error_of(response) == (409, "conflict", "portal 'test.bitrix24.com' exists already")


@pytest.mark.parametrize(
    ("part", "body", "status", "message"),
    [
        ("users", {"login": ""}, 400, "login must not be empty"),
        ("users", {"login": "admin"}, 409, "portal test.bitrix24.com already has a user with"),
        ("users", {"login": "x", "id": 1}, 409, "portal test.bitrix24.com already has a user 1"),
        ("users", {"login": "x", "phone_inner": 5}, 400, "phone_inner must be a string"),
        ("webhooks", {"user": 5}, 400, "user: the portal has no user 5"),
        ("webhooks", {"scopes": "telephony"}, 400, "scopes must be an array"),
        ("apps", {"user": 5}, 400, "user: the portal has no user 5"),
        ("apps", {"scopes": ["nope"]}, 400, "scopes: unknown scope 'nope'"),
        ("lines", {"type": "fax", "server": "s", "login": "l"}, 400, "PBX type is not specified."),
        (
            "lines",
            {"server": "s", "login": "l", "client_id": "local.no"},
            400,
            "no application 'local.no'",
        ),
        ("lines", {"server": "s", "login": "l", "app": 0}, 400, "app is an index"),
        ("lines", [], 400, "the body must be a JSON object"),
    ],
)
def test_bad_part_is_answered_with_a_message(
    ops: Env, part: str, body: Any, status: int, message: str
):
    before = op(ops, "GET", f"/operator/portals/{ops.portal.domain}")
    response = ops.client.post(
        f"/operator/portals/{ops.portal.domain}/{part}", json=body, headers=AUTH
    )
    got_status, code, text = error_of(response)
    assert got_status == status
    assert code == ("conflict" if status == 409 else "invalid_request")
    assert message in text, text
    assert op(ops, "GET", f"/operator/portals/{ops.portal.domain}") == before


def test_unknown_portal_or_part_is_404(ops: Env):
    response = ops.client.get("/operator/portals/nowhere.example/users", headers=AUTH)
    assert error_of(response) == (404, "not_found", "no portal 'nowhere.example'")
    response = ops.client.get(f"/operator/portals/{ops.portal.domain}/pets", headers=AUTH)
    assert error_of(response)[:2] == (404, "not_found")


def test_schema_names_the_fields_the_checks_know():
    schema = json.loads(SCHEMA.read_text())
    assert set(schema["properties"]) == set(FIELDS["portal"])
    assert schema["required"] == ["domain"]
    assert schema["additionalProperties"] is False
    for kind in ("user", "webhook", "app", "line", "crm"):
        definition = schema["$defs"][kind]
        assert set(definition["properties"]) == set(FIELDS[kind]), kind
        assert definition["additionalProperties"] is False
        required = [name for name, (_, needed) in FIELDS[kind].items() if needed]
        assert definition.get("required", []) == required, kind
