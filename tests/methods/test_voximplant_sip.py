"""voximplant.sip.get/add/update/delete through the wire, on every backend."""

from __future__ import annotations

import re

import pytest

CLOUD = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "u1", "PASSWORD": "p1"}


def error(response, status, code, description=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    if description is not None:
        assert body["error_description"] == description
    assert "result" not in body and "time" not in body
    return body


# -- add ------------------------------------------------------------------------


def test_add_cloud_returns_typed_fields(env):
    result = env.ok("voximplant.sip.add", {**CLOUD, "TITLE": "  Cloud 1  "})["result"]
    assert result["ID"] == result["CONFIG_ID"] and isinstance(result["CONFIG_ID"], str)
    assert isinstance(result["REG_ID"], int) and result["REG_ID"] > 0
    assert result["TYPE"] == "cloud"
    assert result["TITLE"] == "Cloud 1"
    assert result["PASSWORD"] == "p1"
    assert result["REGISTRATION_STATUS_CODE"] is None
    assert result["REGISTRATION_ERROR_MESSAGE"] is None
    assert result["AUTH_USER"] is None and result["OUTBOUND_PROXY"] is None
    assert result["DETECT_LINE_NUMBER"] == "N"
    assert result["LINE_DETECT_HEADER_ORDER"] == "diversion;to"
    assert "INCOMING_SERVER" not in result and "APP_ID" not in result


def test_add_office_gets_incoming_credentials(env):
    result = env.ok(
        "voximplant.sip.add", {"TYPE": "OFFICE", "SERVER": "pbx", "LOGIN": "l", "PASSWORD": "pw"}
    )["result"]
    assert result["TYPE"] == "office"
    assert result["INCOMING_LOGIN"] == f"sip{result['CONFIG_ID']}"
    assert re.fullmatch(r"[0-9a-f]{32}", result["INCOMING_PASSWORD"])
    assert result["INCOMING_SERVER"]
    assert "REG_ID" not in result
    assert result["REGISTRATION_STATUS_CODE"] is None
    listed = env.ok("voximplant.sip.get")["result"][0]
    assert listed["REGISTRATION_STATUS_CODE"] == "0"
    assert listed["INCOMING_PASSWORD"] == result["INCOMING_PASSWORD"]


def test_add_defaults_to_cloud_and_strips_schemes(env):
    result = env.ok(
        "voximplant.sip.add", {"SERVER": " https://sip.example.com http://x ", "LOGIN": " u "}
    )["result"]
    assert result["TYPE"] == "cloud"
    assert result["SERVER"] == "sip.example.com x"
    assert result["LOGIN"] == "u"
    assert result["PASSWORD"] is None
    assert result["TITLE"] == ""


def test_add_parameter_names_case_insensitive(env):
    result = env.ok(
        "voximplant.sip.add", {"type": "office", "Server": "pbx", "login": "x", "title": "T"}
    )["result"]
    assert (result["TYPE"], result["SERVER"], result["TITLE"]) == ("office", "pbx", "T")


def test_add_missing_fields_joined(env):
    response = env.call("voximplant.sip.add", {"TYPE": "weird"})
    error(
        response,
        400,
        "CHECK_FIELDS_ERROR",
        "PBX type is not specified.<br> Server address not specified<br> "
        "Login for connecting to the server not specified",
    )


def test_add_too_long_fields(env):
    long = "x" * 101
    response = env.call("voximplant.sip.add", {"SERVER": long, "LOGIN": long, "PASSWORD": long})
    error(
        response,
        400,
        "CHECK_FIELDS_ERROR",
        "Server address must not exceed 100 characters.<br> Server login must not exceed 100 "
        "characters.<br> Password for connecting to the server cannot exceed 100 characters",
    )


def test_add_password_length_counts_raw_value(env):
    response = env.call("voximplant.sip.add", {**CLOUD, "PASSWORD": " " * 101})
    error(response, 400, "CHECK_FIELDS_ERROR")
    assert (
        env.ok("voximplant.sip.add", {**CLOUD, "PASSWORD": " " * 100})["result"]["PASSWORD"] == ""
    )


def test_add_title_exists(env):
    env.add_line(TITLE="Same")
    response = env.call("voximplant.sip.add", {**CLOUD, "TITLE": "Same"})
    error(
        response,
        400,
        "TITLE_EXISTS",
        "The specified connection name is already registered in the system",
    )


def test_add_empty_titles_do_not_collide(env):
    env.add_line()
    env.add_line(TITLE="   ")
    assert env.ok("voximplant.sip.get")["total"] == 2


def test_add_eleventh_cloud_line_refused(env):
    for _ in range(10):
        env.ok("voximplant.sip.add", CLOUD)
    response = env.call("voximplant.sip.add", CLOUD)
    error(response, 400, "MAX_CLOUD_PBX", "You cannot connect more than 10 virtual PBXs.")
    env.add_line(TYPE="office")  # office lines are not capped
    assert env.ok("voximplant.sip.get")["total"] == 11


def test_add_null_counts_as_absent(env):
    result = env.ok("voximplant.sip.add", {**CLOUD, "PASSWORD": None, "TITLE": None})["result"]
    assert result["PASSWORD"] is None and result["TITLE"] == ""


def test_add_numbers_read_as_strings(env):
    result = env.ok("voximplant.sip.add", {"SERVER": "h", "LOGIN": 12345, "PASSWORD": 1.5})[
        "result"
    ]
    assert result["LOGIN"] == "12345" and result["PASSWORD"] == "1.5"


@pytest.mark.parametrize("name", ["SERVER", "LOGIN", "PASSWORD", "TITLE", "TYPE"])
def test_add_array_value_refused(env, name):
    response = env.call("voximplant.sip.add", {**CLOUD, name: ["a"]})
    body = error(response, 400, "ERROR_ARGUMENT", f"Parameter {name} must be a string")
    assert body["argument"] == name
    assert env.call("voximplant.sip.get").json()["result"] == []


# -- get ------------------------------------------------------------------------


def test_get_rows_are_strings_and_hide_internal_fields(env):
    cloud = env.ok("voximplant.sip.add", CLOUD)["result"]
    env.add_line(TITLE="Office")
    body = env.ok("voximplant.sip.get")
    assert body["total"] == 2 and "next" not in body
    first, second = body["result"]
    assert first["CONFIG_ID"] == cloud["CONFIG_ID"]
    assert first["REG_ID"] == str(cloud["REG_ID"])
    assert "ID" not in first and "APP_ID" not in first and "INCOMING_LOGIN" not in first
    assert "REG_ID" not in second and second["INCOMING_LOGIN"].startswith("sip")
    assert list(first) == [
        "TYPE",
        "CONFIG_ID",
        "REG_ID",
        "SERVER",
        "LOGIN",
        "PASSWORD",
        "AUTH_USER",
        "OUTBOUND_PROXY",
        "DETECT_LINE_NUMBER",
        "LINE_DETECT_HEADER_ORDER",
        "REGISTRATION_STATUS_CODE",
        "REGISTRATION_ERROR_MESSAGE",
        "TITLE",
    ]


def test_get_pages_of_fifty(env):
    for i in range(60):
        env.add_line(TITLE=f"L{i:02d}")
    first = env.ok("voximplant.sip.get", {"SORT": "TITLE", "ORDER": "asc"})
    assert len(first["result"]) == 50 and first["total"] == 60 and first["next"] == 50
    assert isinstance(first["next"], int) and isinstance(first["total"], int)
    second = env.ok("voximplant.sip.get", {"SORT": "TITLE", "ORDER": "asc", "start": 50})
    assert len(second["result"]) == 10 and "next" not in second
    titles = [r["TITLE"] for r in first["result"] + second["result"]]
    assert titles == [f"L{i:02d}" for i in range(60)]
    beyond = env.ok("voximplant.sip.get", {"start": 100})
    assert beyond["result"] == [] and beyond["total"] == 60 and "next" not in beyond
    negative = env.ok("voximplant.sip.get", {"start": -1})
    assert negative["total"] == 60 and negative["next"] == 50


def test_get_start_only_lower_case(env):
    for _ in range(3):
        env.add_line()
    assert len(env.ok("voximplant.sip.get", {"START": 2})["result"]) == 3
    assert len(env.ok("voximplant.sip.get", {"start": "2abc"})["result"]) == 1


def test_get_sort_descending(env):
    ids = [env.add_line()["CONFIG_ID"] for _ in range(3)]
    body = env.ok("voximplant.sip.get", {"SORT": "CONFIG_ID", "ORDER": "DESC"})
    assert [r["CONFIG_ID"] for r in body["result"]] == ids[::-1]


def test_get_sort_needs_both_parameters(env):
    ids = [env.add_line()["CONFIG_ID"] for _ in range(2)]
    body = env.ok("voximplant.sip.get", {"SORT": "CONFIG_ID"})
    assert [r["CONFIG_ID"] for r in body["result"]] == ids


def test_get_non_string_order_ignored(env):
    env.add_line()
    body = env.ok("voximplant.sip.get", {"SORT": "CONFIG_ID", "order": {"ID": "ASC"}})
    assert body["total"] == 1


def test_get_bad_order_fails_only_when_rows_match(env):
    assert env.ok("voximplant.sip.get", {"SORT": "TITLE", "ORDER": "up"})["result"] == []
    env.add_line()
    body = error(
        env.call("voximplant.sip.get", {"SORT": "TITLE", "ORDER": "up"}),
        400,
        "ERROR_ARGUMENT",
        'Invalid order "UP"',
    )
    assert body["argument"] == ""


def test_get_unknown_sort_field_fails_only_when_rows_match(env):
    assert env.ok("voximplant.sip.get", {"SORT": "NOPE", "ORDER": "ASC"})["result"] == []
    env.add_line()
    error(
        env.call("voximplant.sip.get", {"SORT": "NOPE", "ORDER": "ASC"}),
        400,
        "100",
        "Unknown field definition `NOPE` (NOPE) for \\Bitrix\\Voximplant\\Sip Entity.",
    )


def test_get_unknown_filter_field_fails_even_when_empty(env):
    error(env.call("voximplant.sip.get", {"FILTER": {"NOPE": 1}}), 400, "100")
    error(env.call("voximplant.sip.get", {"FILTER": {"~TITLE": 1}}), 400, "100")


@pytest.fixture
def three(env):
    a = env.add_line(TITLE="Alpha", SERVER="a.sipnet.ru", LOGIN="100")
    b = env.add_line(TITLE="Beta", SERVER="b.zadarma.com", LOGIN="200")
    c = env.ok("voximplant.sip.add", {**CLOUD, "TITLE": "Gamma", "SERVER": "c.sipnet.ru"})["result"]
    return env, [int(a["CONFIG_ID"]), int(b["CONFIG_ID"]), int(c["CONFIG_ID"])]


def titles(env, filter_):
    body = env.ok("voximplant.sip.get", {"FILTER": filter_, "SORT": "CONFIG_ID", "ORDER": "ASC"})
    return [r["TITLE"] for r in body["result"]]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"TYPE": "office"}, ["Alpha", "Beta"]),
        ({"type": "OFFICE"}, ["Alpha", "Beta"]),
        ({"=TYPE": "cloud"}, ["Gamma"]),
        ({"!TYPE": "cloud"}, ["Alpha", "Beta"]),
        ({"!=TITLE": "Alpha"}, ["Beta", "Gamma"]),
        ({"%SERVER": "SIPNET"}, ["Alpha", "Gamma"]),
        ({"!%SERVER": "sipnet"}, ["Beta"]),
        ({"%SERVER": "%"}, []),
        ({"TITLE": ["alpha", "gamma"]}, ["Alpha", "Gamma"]),
        ({"@TITLE": ["Beta"]}, ["Beta"]),
        ({"!@TITLE": ["Beta"]}, ["Alpha", "Gamma"]),
        ({">TITLE": "Alpha"}, ["Beta", "Gamma"]),
        ({"<=TITLE": "Beta"}, ["Alpha", "Beta"]),
        ({"?SERVER": "sipnet & ru"}, ["Alpha", "Gamma"]),
        ({"?SERVER": "zadarma | c.sip*"}, ["Beta", "Gamma"]),
        ({"?SERVER": "ru !gamma !c."}, ["Alpha"]),
        ({"TITLE": "Al_ha"}, []),
        ({"LOGIN": "100"}, ["Alpha"]),
        ({"REGISTRATION_STATUS_CODE": 0}, ["Alpha", "Beta", "Gamma"]),
        ({"REG_ID": ""}, ["Alpha", "Beta"]),
        ({"AUTH_USER": ""}, ["Alpha", "Beta", "Gamma"]),
        ({"!AUTH_USER": ""}, []),
        ({"PASSWORD": "p1"}, ["Gamma"]),
        ({"%PASSWORD": "P"}, ["Gamma"]),
        ({"!PASSWORD": "p1"}, ["Alpha", "Beta"]),
        ({"CONFIG.PHONE_NAME": "beta"}, ["Beta"]),
        ({"><TITLE": ["B", "C"]}, ["Beta"]),
        ({"><TITLE": ["B"]}, ["Alpha", "Beta", "Gamma"]),
    ],
)
def test_get_filter_operators(three, filter_, expected):
    env, _ = three
    assert titles(env, filter_) == expected


def test_get_filter_integer_operators(three):
    env, (a, b, c) = three
    assert titles(env, {"CONFIG_ID": [a, c]}) == ["Alpha", "Gamma"]
    assert titles(env, {">=CONFIG_ID": b}) == ["Beta", "Gamma"]
    assert titles(env, {"<CONFIG_ID": str(b) + "abc"}) == ["Alpha"]
    assert titles(env, {"><CONFIG_ID": [a, b]}) == ["Alpha", "Beta"]
    assert titles(env, {"!><CONFIG_ID": [a, b]}) == ["Gamma"]
    assert titles(env, {"!=CONFIG_ID": a}) == ["Beta", "Gamma"]
    assert titles(env, {"%CONFIG_ID": str(c)}) == ["Gamma"]


def test_get_filter_encrypted_field_with_paging(env):
    for i in range(55):
        env.add_line(TITLE=f"T{i:02d}", PASSWORD="secret" if i % 5 == 0 else "other")
    body = env.ok(
        "voximplant.sip.get", {"FILTER": {"PASSWORD": "SECRET"}, "SORT": "TITLE", "ORDER": "DESC"}
    )
    assert body["total"] == 11
    assert [r["TITLE"] for r in body["result"]] == [f"T{i:02d}" for i in range(50, -1, -5)]


def test_get_filter_not_a_map_is_ignored(env):
    env.add_line()
    assert env.ok("voximplant.sip.get", {"FILTER": "TYPE=cloud"})["total"] == 1
    assert env.ok("voximplant.sip.get", {"FILTER": [1, 2]})["total"] == 1


# -- update ---------------------------------------------------------------------


def test_update_title_only_keeps_status(env):
    line = env.add_line(TITLE="Old")
    assert (
        env.ok("voximplant.sip.update", {"CONFIG_ID": line["CONFIG_ID"], "TITLE": " New "})[
            "result"
        ]
        == 1
    )
    row = env.ok("voximplant.sip.get")["result"][0]
    assert row["TITLE"] == "New" and row["REGISTRATION_STATUS_CODE"] == "0"


def test_update_credentials_reset_status(env):
    cloud = env.ok("voximplant.sip.add", CLOUD)["result"]
    assert (
        env.ok(
            "voximplant.sip.update",
            {
                "CONFIG_ID": cloud["CONFIG_ID"],
                "PASSWORD": " new ",
                "SERVER": "http://other.example",
            },
        )["result"]
        == 1
    )
    row = env.ok("voximplant.sip.get")["result"][0]
    assert (row["PASSWORD"], row["SERVER"], row["REGISTRATION_STATUS_CODE"]) == (
        "new",
        "other.example",
        "0",
    )


def test_update_nothing_given_returns_one(env):
    line = env.add_line()
    assert (
        env.ok("voximplant.sip.update", {"CONFIG_ID": line["CONFIG_ID"], "TYPE": "bogus"})["result"]
        == 1
    )


def test_update_unknown_config_is_404(env):
    error(
        env.call("voximplant.sip.update", {"CONFIG_ID": 999, "TITLE": "x"}),
        404,
        "ERROR_NOT_FOUND",
        "Specified CONFIG_ID is not found",
    )
    error(env.call("voximplant.sip.update", {"TITLE": "x"}), 404, "ERROR_NOT_FOUND")
    error(env.call("voximplant.sip.update", {"CONFIG_ID": "abc"}), 404, "ERROR_NOT_FOUND")


def test_update_validates_given_fields(env):
    line = env.add_line()
    error(
        env.call(
            "voximplant.sip.update", {"CONFIG_ID": line["CONFIG_ID"], "SERVER": "", "TYPE": "Cloud"}
        ),
        400,
        "CHECK_FIELDS_ERROR",
        "PBX type is not specified.<br> Server address not specified",
    )


def test_update_title_conflict(env):
    env.add_line(TITLE="A")
    b = env.add_line(TITLE="B")
    error(
        env.call("voximplant.sip.update", {"CONFIG_ID": b["CONFIG_ID"], "TITLE": "A"}),
        400,
        "TITLE_EXISTS",
    )
    assert (
        env.ok("voximplant.sip.update", {"CONFIG_ID": b["CONFIG_ID"], "TITLE": "B"})["result"] == 1
    )


# -- delete ---------------------------------------------------------------------


def test_delete_removes_line(env):
    line = env.add_line()
    assert env.ok("voximplant.sip.delete", {"CONFIG_ID": int(line["CONFIG_ID"])})["result"] == 1
    assert env.ok("voximplant.sip.get")["result"] == []


def test_delete_unknown_is_400(env):
    error(
        env.call("voximplant.sip.delete", {"CONFIG_ID": 5}),
        400,
        "ERROR_NOT_FOUND",
        "Specified CONFIG_ID is not found",
    )


# -- permissions and scoping ---------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["voximplant.sip.get", "voximplant.sip.add", "voximplant.sip.update", "voximplant.sip.delete"],
)
def test_methods_need_line_modify_right(env, method):
    hook = env.webhook(env.user("plain"))
    error(
        env.call(method, {"FILTER": {"NOPE": 1}}, hook=hook), 403, "ACCESS_DENIED", "Access denied!"
    )


def test_line_modify_right_is_enough(env):
    hook = env.webhook(env.user("operator", line_modify=True))
    assert env.ok("voximplant.sip.get", hook=hook)["result"] == []


def test_webhook_sees_only_lines_without_application(env):
    env.add_line(TITLE="mine")

    async def app_line():
        async with env.app.store.lines.line_writer(env.portal.id) as writer:
            from trunkline.domain.lines import LineType, NewLine

            await writer.insert(
                NewLine(LineType.OFFICE, "theirs", "s", "l", None, "local.abc.123"),
                incoming_server="x",
            )

    env.run(app_line)
    assert titles(env, {}) == ["mine"]
    assert titles(env, {"LOGIC": "OR", "APP_ID": "local.abc.123"}) == ["mine"]
    assert titles(env, {"=APP_ID": "local.abc.123"}) == []
    assert titles(env, {"0": {"APP_ID": "local.abc.123"}}) == ["mine"]
    # TITLE uniqueness is portal-wide, across applications.
    error(
        env.call(
            "voximplant.sip.add", {"TYPE": "office", "SERVER": "s", "LOGIN": "l", "TITLE": "theirs"}
        ),
        400,
        "TITLE_EXISTS",
    )
    # The application's line is "not found" for a webhook.
    lines = env.run(env.app.store.lines.all_lines, env.portal.id)
    theirs = next(line for line in lines if line.title == "theirs")
    error(
        env.call("voximplant.sip.update", {"CONFIG_ID": theirs.config_id, "TITLE": "x"}),
        404,
        "ERROR_NOT_FOUND",
    )
    error(
        env.call("voximplant.sip.delete", {"CONFIG_ID": theirs.config_id}), 400, "ERROR_NOT_FOUND"
    )
