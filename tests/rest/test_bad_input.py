"""Bad input of every kind: a documented error or a clear 400, never a 500, never
a traceback, and the stored lines are exactly as they were."""

from __future__ import annotations

import pytest

SQL_KEYS = [
    "TITLE'; DROP TABLE lines; --",
    "%TITLE) OR 1=1 --",
    '=TITLE" OR "1"="1',
    "TITLE; DELETE FROM lines",
    "CONFIG_ID` = 1 OR 1=1 #",
    "(SELECT 1)",
]


@pytest.fixture
def seeded(env):
    # Line 1 is gone: no odd value that PHP's intval turns into 1 may touch a line.
    env.ok("voximplant.sip.delete", {"CONFIG_ID": env.add_line()["CONFIG_ID"]})
    env.add_line(TITLE="keep-1", PASSWORD="pw")
    env.ok("voximplant.sip.add", {"TYPE": "cloud", "SERVER": "c", "LOGIN": "l", "TITLE": "keep-2"})
    before = env.run(env.app.store.lines.all_lines, env.portal.id)
    yield env
    after = env.run(env.app.store.lines.all_lines, env.portal.id)
    assert after == before, "bad input changed stored lines"


def assert_clean(response, status, code=None):
    assert response.status_code == status, response.text
    assert response.status_code < 500
    body = response.json()
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"] == code
    return body


def test_malformed_json_is_no_parameters(seeded):
    env = seeded
    for raw in (b"{", b'{"FILTER": ', b"nul", b"\x00\x01", b'{"a":1}}'):
        response = env.client.post(
            env.hook + "voximplant.sip.get",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert assert_clean(response, 200)["total"] == 2
        add = env.client.post(
            env.hook + "voximplant.sip.add",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert_clean(add, 400, "CHECK_FIELDS_ERROR")


def test_ten_megabyte_body_refused(seeded):
    env = seeded
    body = b'{"TITLE": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = env.client.post(
        env.hook + "voximplant.sip.add", content=body, headers={"content-type": "application/json"}
    )
    assert_clean(response, 413, "REQUEST_TOO_LARGE")


@pytest.mark.parametrize("depth", [65, 1000])
def test_deeply_nested_bracket_keys_refused(seeded, depth):
    env = seeded
    key = "FILTER" + "[a]" * depth
    response = env.client.post(env.hook + "voximplant.sip.get", data={key: "1"})
    body = assert_clean(response, 400, "ERROR_ARGUMENT")
    assert "nested deeper than 64" in body["error_description"]


def test_deeply_nested_json_refused(seeded):
    env = seeded
    raw = b'{"FILTER":' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = env.client.post(
        env.hook + "voximplant.sip.get", content=raw, headers={"content-type": "application/json"}
    )
    # orjson refuses past its own depth limit (no parameters); our limit refuses the rest.
    assert response.status_code in (200, 400)
    assert_clean(response, response.status_code)


@pytest.mark.parametrize("key", SQL_KEYS)
def test_sql_in_filter_keys_is_unknown_field(seeded, key):
    response = seeded.call("voximplant.sip.get", {"FILTER": {key: "1"}})
    assert_clean(response, 400, "100")


@pytest.mark.parametrize(
    "value",
    ["' OR '1'='1", "1; DROP TABLE lines", "%", "_", "\\", "keep-1' --", "\x00", "' UNION SELECT"],
)
def test_sql_in_filter_values_is_data(seeded, value):
    env = seeded
    for op in ("", "=", "%", "?", "!", ">", "@"):
        response = env.call("voximplant.sip.get", {"FILTER": {f"{op}TITLE": value}})
        assert_clean(response, 200)
    response = env.call("voximplant.sip.get", {"SORT": value, "ORDER": "ASC"})
    assert_clean(response, 400, "100")


@pytest.mark.parametrize("key", ["~TITLE", "=%TITLE", "*TITLE", "!!TITLE", "<>TITLE", "TITLE>"])
def test_unknown_operators(seeded, key):
    assert_clean(seeded.call("voximplant.sip.get", {"FILTER": {key: "x"}}), 400, "100")


WRONG_TYPES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e308,
    "",
    "x" * 5000,
    [],
    [1, 2],
    {},
    {"a": {"b": 1}},
]


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("name", ["FILTER", "SORT", "ORDER", "start"])
def test_get_wrong_types(seeded, name, value):
    response = seeded.call("voximplant.sip.get", {name: value})
    assert response.status_code in (200, 400)
    assert_clean(response, response.status_code)


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("name", ["TYPE", "TITLE", "SERVER", "LOGIN", "PASSWORD"])
def test_add_wrong_types_leave_nothing_behind(env, name, value):
    base = {"TYPE": "office", "SERVER": "s", "LOGIN": "l", "TITLE": "unique-title"}
    response = env.call("voximplant.sip.add", {**base, name: value})
    assert response.status_code in (200, 400)
    body = assert_clean(response, response.status_code)
    stored = env.run(env.app.store.lines.all_lines, env.portal.id)
    assert len(stored) == (1 if response.status_code == 200 else 0), body


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("name", ["CONFIG_ID", "TITLE", "SERVER", "LOGIN", "PASSWORD", "TYPE"])
def test_update_wrong_types(seeded, name, value):
    response = seeded.call("voximplant.sip.update", {"CONFIG_ID": 99999, name: value})
    assert_clean(response, response.status_code)
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_delete_wrong_types(seeded, value):
    response = seeded.call("voximplant.sip.delete", {"CONFIG_ID": value})
    code = "ERROR_ARGUMENT" if isinstance(value, list | dict) else "ERROR_NOT_FOUND"
    assert_clean(response, 400, code)


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("name", ["cmd", "halt"])
def test_batch_wrong_types(seeded, name, value):
    response = seeded.call("batch", {name: value})
    assert_clean(response, 200)


def test_invalid_utf8_everywhere(seeded):
    env = seeded
    raw = b"FILTER[TITLE]=\xff\xfe&SORT=\xc3"
    query = env.client.get(env.hook + "voximplant.sip.get?FILTER[TITLE]=%FF%FE")
    assert_clean(query, 200)
    form = env.client.post(
        env.hook + "voximplant.sip.get",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_clean(form, 200)
    json_body = env.client.post(
        env.hook + "voximplant.sip.add",
        content=b'{"SERVER":"\xff"}',
        headers={"content-type": "application/json"},
    )
    assert_clean(json_body, 400, "CHECK_FIELDS_ERROR")
    path = env.client.get("/rest/1/%FF%FE/voximplant.sip.get")
    assert_clean(path, 401, "INVALID_CREDENTIALS")


def test_odd_php_arrays(seeded):
    env = seeded
    for body in (
        "FILTER[]=1&FILTER[]=2",
        "FILTER=1&FILTER[TITLE]=keep-1",
        "FILTER[TITLE][][]=x",
        "FILTER[%3ETITLE]=",
        "SORT[]=TITLE&ORDER[]=ASC",
        "start[]=5",
        "[]=1&=2&%5B=3",
    ):
        response = env.client.post(
            env.hook + "voximplant.sip.get",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_clean(response, 200)


def test_malformed_multipart(seeded):
    response = seeded.client.post(
        seeded.hook + "voximplant.sip.get",
        content=b"--xx\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=xx"},
    )
    assert response.status_code in (200, 400)
    assert_clean(response, response.status_code)


def test_huge_filter_value_lists(seeded):
    response = seeded.call("voximplant.sip.get", {"FILTER": {"CONFIG_ID": list(range(5000))}})
    assert assert_clean(response, 200)["total"] == 2
