"""The REST wire: URL forms, verbs, encodings, envelopes, authentication errors."""

from __future__ import annotations

import os
import time
from datetime import datetime

import orjson
import pytest

from trunkline.rest.app import parse_route
from trunkline.rest.responses import FrozenItem, FrozenList, encode_json, iso_date, time_block


def error(response, status, code, description=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description
    assert "time" not in body
    return body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/rest/voximplant.sip.get", ("voximplant.sip.get", "json", None, None)),
        ("/rest/voximplant.sip.get.json", ("voximplant.sip.get", "json", None, None)),
        ("/rest/Voximplant.SIP.Get.JSON/", ("voximplant.sip.get", "json", None, None)),
        ("/rest//voximplant.sip.get", ("voximplant.sip.get", "json", None, None)),
        ("/rest/1/abc/voximplant.sip.get.xml", ("voximplant.sip.get", "xml", "1", "abc")),
        ("/rest/1/abc/batch/", ("batch", "json", "1", "abc")),
        ("//rest//1//abc//batch", ("batch", "json", "1", "abc")),
        ("/rest/voximplant.sip.get.php", ("voximplant.sip.get.php", "json", None, None)),
        ("/rest/", ("", "json", None, None)),
        ("/rest/1/abc/", ("", "json", None, None)),
        ("/other/x", ("", "json", None, None)),
    ],
)
def test_parse_route_forms(path, expected):
    assert parse_route(path) == expected


@pytest.mark.parametrize(
    "suffix",
    [
        "voximplant.sip.get",
        "voximplant.sip.get.json",
        "voximplant.sip.get/",
        "VOXIMPLANT.SIP.GET",
        "voximplant.sip.get.json/",
    ],
)
def test_webhook_url_forms(sqlite_env, suffix):
    response = sqlite_env.client.get(sqlite_env.hook + suffix)
    assert response.status_code == 200
    assert response.json()["result"] == []


def test_double_slashes_are_one(sqlite_env):
    response = sqlite_env.client.post(f"/rest//1/{sqlite_env.code}//voximplant.sip.get")
    assert response.status_code == 200


def test_webhook_as_parameters(sqlite_env):
    response = sqlite_env.client.get(
        "/rest/voximplant.sip.get", params={"aplogin": "1", "ap": sqlite_env.code}
    )
    assert response.status_code == 200


def test_webhook_user_given_by_login(sqlite_env):
    response = sqlite_env.client.get(f"/rest/admin/{sqlite_env.code}/voximplant.sip.get")
    assert response.status_code == 200


@pytest.mark.parametrize("verb", ["PUT", "DELETE", "PATCH"])
def test_other_verbs_act_like_get(sqlite_env, verb):
    response = sqlite_env.client.request(verb, sqlite_env.hook + "voximplant.sip.get")
    assert response.status_code == 200


def test_options_answers_cors(sqlite_env):
    response = sqlite_env.client.options(sqlite_env.hook + "voximplant.sip.get")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "origin, content-type, accept"


def test_success_headers_and_time_block(sqlite_env):
    before = time.time()
    response = sqlite_env.client.get(sqlite_env.hook + "voximplant.sip.get")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    timing = response.json()["time"]
    assert set(timing) == {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating_reset_at",
        "operating",
    }
    assert isinstance(timing["start"], int) and int(before) <= timing["start"] <= time.time()
    assert isinstance(timing["finish"], float) and isinstance(timing["processing"], int)
    assert timing["operating_reset_at"] == timing["start"] + 600
    assert datetime.fromisoformat(timing["date_start"]).timestamp() == timing["start"]
    assert timing["duration"] == pytest.approx(timing["finish"] - timing["start"])


def test_time_block_uses_portal_timezone():
    block = time_block(
        start=1773654128.4,
        finish=1773654129.05,
        method_start=1773654128.5,
        method_end=1773654129.01,
        timezone="Europe/Kaliningrad",
    )
    assert block["start"] == 1773654128
    assert block["processing"] == 1
    assert block["date_start"] == "2026-03-16T11:42:08+02:00"
    assert block["date_finish"] == "2026-03-16T11:42:09+02:00"
    assert iso_date(0, "No/Such_Zone") == "1970-01-01T00:00:00+00:00"


def test_encode_json_like_bitrix():
    assert encode_json({"a": "<b>&'\"/é", "e": [], "n": None}) == (
        b'{"a":"\\u003Cb\\u003E\\u0026\\u0027\\u0022\\/\xc3\xa9","e":[],"n":null}'
    )
    assert encode_json("back\\slash\\") == b'"back\\\\slash\\\\"'
    assert orjson.loads(encode_json('\\"x\\\\"')) == '\\"x\\\\"'


def test_frozen_items_encode_as_their_dicts():
    """A FrozenItem's JSON is made once and spliced in; the bytes are those of the plain
    dict, Bitrix escapes included, and other subclasses still encode as their base."""
    import enum

    class Kind(enum.IntEnum):
        ONE = 1

    class Name(str):
        pass

    raw = {"a": "<b>&'\"/é", "q": 'say \\"hi\\"', "n": None, "k": [1, {"x": "y/z"}]}
    item = FrozenItem(raw)
    body = {"result": [item, item], "total": Kind.ONE, "who": Name("a/b"), "l": [Kind.ONE]}
    plain = {"result": [dict(raw), dict(raw)], "total": 1, "who": "a/b", "l": [1]}
    assert encode_json(body) == encode_json(plain)
    assert encode_json(body) == encode_json(body)  # the kept bytes give the same answer
    assert orjson.loads(encode_json(body))["result"][0] == raw


def test_frozen_lists_encode_as_their_lists():
    """A FrozenList's JSON is made once and spliced in: the bytes are those of the plain
    list, wherever it stands, Bitrix escapes included; XML and batch see a list."""
    raw = {"a": "<b>&'\"/é", "q": 'say \\"hi\\"', "n": None, "k": [1, {"x": "y/z"}]}
    items = FrozenList([FrozenItem(raw), FrozenItem(raw), "p/q", 7, None])
    plain = [dict(raw), dict(raw), "p/q", 7, None]
    assert isinstance(items, list) and items == plain
    for body, want in (
        ({"result": items, "total": 2}, {"result": plain, "total": 2}),
        ({"result": {"0": items, "1": [items]}}, {"result": {"0": plain, "1": [plain]}}),
        (items, plain),
    ):
        assert encode_json(body) == encode_json(want)
        assert encode_json(body) == encode_json(body)  # the kept bytes give the same answer
    assert encode_json(FrozenList()) == b"[]"
    assert orjson.loads(encode_json(items))[0] == raw


def test_xml_format(sqlite_env):
    sqlite_env.add_line(TITLE="A&B")
    response = sqlite_env.client.get(sqlite_env.hook + "voximplant.sip.get.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    text = response.text
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><response><result><item>')
    assert "<TITLE>A&amp;B</TITLE>" in text and "<total>1</total>" in text


# -- parameters from every encoding ---------------------------------------------


def test_query_form_and_json_give_the_same_answer(sqlite_env):
    env = sqlite_env
    a = env.add_line(TITLE="A")
    env.add_line(TITLE="B")
    want = env.ok("voximplant.sip.get", {"FILTER": {"CONFIG_ID": [int(a["CONFIG_ID"])]}})
    query = env.client.get(
        env.hook + "voximplant.sip.get", params={"FILTER[CONFIG_ID][0]": a["CONFIG_ID"]}
    )
    form = env.client.post(
        env.hook + "voximplant.sip.get", data={"FILTER[CONFIG_ID][]": a["CONFIG_ID"]}
    )
    multipart = env.client.post(
        env.hook + "voximplant.sip.get", files={"FILTER[CONFIG_ID][0]": (None, a["CONFIG_ID"])}
    )
    raw = env.client.post(
        env.hook + "voximplant.sip.get",
        content=f"FILTER%5BCONFIG_ID%5D%5B0%5D={a['CONFIG_ID']}",
        headers={"content-type": "text/plain"},
    )
    for response in (query, form, multipart, raw):
        assert response.status_code == 200, response.text
        assert response.json()["result"] == want["result"]


def test_json_body_replaces_query_keys(sqlite_env):
    env = sqlite_env
    env.add_line(TITLE="A")
    env.add_line(TITLE="B")
    response = env.client.post(
        env.hook + "voximplant.sip.get?FILTER[TITLE]=A", json={"FILTER": {"TITLE": "B"}}
    )
    assert [r["TITLE"] for r in response.json()["result"]] == ["B"]


def test_json_with_charset_and_curl_default_type(sqlite_env):
    env = sqlite_env
    body = b'{"TYPE":"office","SERVER":"s","LOGIN":"l"}'
    typed = env.client.post(
        env.hook + "voximplant.sip.add",
        content=body,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert typed.status_code == 200
    curl = env.client.post(
        env.hook + "voximplant.sip.add",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert curl.status_code == 200


def test_unknown_parameters_ignored(sqlite_env):
    response = sqlite_env.client.post(
        sqlite_env.hook + "voximplant.sip.get?bx24_request_id=1&bx24_sdk_ver=2.2.0",
        json={"__order": "x", "auth_connector": "y", "state": "z"},
    )
    assert response.status_code == 200


# -- errors -------------------------------------------------------------------------


def test_unknown_method_404_before_auth(sqlite_env):
    env = sqlite_env
    error(
        env.client.get("/rest/no.such.method"), 404, "ERROR_METHOD_NOT_FOUND", "Method not found!"
    )
    error(env.client.get("/rest/1/wrong/no.such.method"), 404, "ERROR_METHOD_NOT_FOUND")
    error(env.client.get("/rest/"), 404, "ERROR_METHOD_NOT_FOUND")


def test_no_auth(sqlite_env):
    error(
        sqlite_env.client.get("/rest/voximplant.sip.get"),
        401,
        "NO_AUTH_FOUND",
        "Wrong authorization data",
    )


@pytest.mark.parametrize("path", ["/rest/1/wrongcode/", "/rest/2/{code}/", "/rest/x/{code}/"])
def test_invalid_credentials(sqlite_env, path):
    response = sqlite_env.client.get(path.format(code=sqlite_env.code) + "voximplant.sip.get")
    error(response, 401, "INVALID_CREDENTIALS", "Invalid request credentials")


def test_expired_and_inactive_webhooks(sqlite_env):
    env = sqlite_env
    expired = env.webhook(1, expires_at=time.time() - 1)
    error(env.call("voximplant.sip.get", hook=expired), 401, "INVALID_CREDENTIALS")
    hooks = env.run(env.app.store.accounts.list_webhooks, env.portal.id)
    env.run(env.app.store.accounts.set_webhook_active, hooks[0].id, False)
    error(env.call("voximplant.sip.get"), 401, "INVALID_CREDENTIALS")


def test_inactive_user_cannot_authorize(sqlite_env):
    env = sqlite_env
    hook = env.webhook(env.user("gone", is_admin=True))
    env.run(
        env.app.store.driver.execute, "UPDATE users SET active = ? WHERE login = 'gone'", (False,)
    )
    error(
        env.call("voximplant.sip.get", hook=hook),
        401,
        "authorization_error",
        "Unable to authorize user",
    )


def test_insufficient_scope(sqlite_env):
    env = sqlite_env
    hook = env.webhook(1, ["crm"])
    error(
        env.call("voximplant.sip.get", hook=hook),
        401,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    )
    assert env.call("batch", {"cmd": {}}, hook=hook).status_code == 200


def test_https_required_setting(database_urls, tmp_path_factory):
    from tests.conftest import make_env

    gen = make_env("sqlite", database_urls, tmp_path_factory, https_required=True)
    env = next(gen)
    try:
        error(env.call("voximplant.sip.get"), 401, "INVALID_REQUEST", "Https required.")
        secure = env.client.post("https://testserver" + env.hook + "voximplant.sip.get")
        assert secure.status_code == 200
    finally:
        gen.close()


def test_no_redirects_anywhere(sqlite_env):
    for path in ("/rest", "/rest/", "/rest/1/x", "/rest/voximplant.sip.get/"):
        response = sqlite_env.client.get(path, follow_redirects=False)
        assert not 300 <= response.status_code < 400


def test_index_and_health(sqlite_env):
    assert sqlite_env.client.get("/").status_code == 200
    assert sqlite_env.client.get("/health").json() == {
        "status": "ok",
        "database": "ok",
        "pid": os.getpid(),
        "limits": "off",
        "limit_state": "in-process",
        "redis": "not configured",
        "engine": {"mode": "off", "running": False},
    }
