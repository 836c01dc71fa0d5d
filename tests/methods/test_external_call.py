"""telephony.externalCall.register/finish/show/hide through the wire, on every backend:
every parameter, the core's sentences, the CALL_ID shape, re-registration within 30
minutes of the application clock, the webhook setting, the events, and the bad-input
table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth.conftest import error
from tests.conftest import Env, make_env
from tests.services.conftest import Recorder

CALL_ID = re.compile(r"externalCall\.[0-9a-f]{32}\.\d+")
REGISTER = {"USER_ID": 1, "PHONE_NUMBER": "+7 (978) 000-00-00", "TYPE": 1}


def register(env: Env, hook: str | None = None, **fields: Any) -> Any:
    return env.call("telephony.externalCall.register", {**REGISTER, **fields}, hook=hook)


def registered(env: Env, **fields: Any) -> dict[str, Any]:
    response = register(env, **fields)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def finish(env: Env, call_id: Any, **fields: Any) -> Any:
    return env.call("telephony.externalCall.finish", {"CALL_ID": call_id, "USER_ID": 1, **fields})


def count(env: Env, table: str) -> int:
    store = env.app.store
    assert store is not None
    row = env.run(store.driver.fetch_one, f"SELECT COUNT(*) FROM {table}")
    return int(row[0])


# -- register -----------------------------------------------------------------------


def test_register_answers_call_id_and_crm_fields(env):
    result = registered(env)
    assert CALL_ID.fullmatch(result["CALL_ID"])
    assert result == {
        "CALL_ID": result["CALL_ID"],
        "CRM_CREATED_LEAD": None,
        "CRM_CREATED_ENTITIES": [],
        "CRM_ENTITY_TYPE": "",
        "CRM_ENTITY_ID": None,
    }
    assert count(env, "calls") == 1


def test_register_call_id_carries_the_application_clock(oauth):
    oauth.clock.now = 1_773_130_779.5
    result = registered(oauth.env)
    assert result["CALL_ID"].endswith(".1773130779")


def test_register_resolves_user_phone_inner(env):
    user = env.user("operator", phone_inner="123")
    result = registered(env, USER_ID=None, USER_PHONE_INNER="123")
    live = env.run(env.app.services.calls.live, env.portal.id, result["CALL_ID"])
    assert live.user_id == user
    record = finish(env, result["CALL_ID"], USER_ID=None, USER_PHONE_INNER="123").json()
    assert record["result"]["PORTAL_USER_ID"] == user


@pytest.mark.parametrize(
    "fields",
    [
        {"USER_ID": None},
        {"USER_ID": 0, "USER_PHONE_INNER": ""},
        {"USER_ID": "abc", "USER_PHONE_INNER": "999"},
    ],
)
def test_register_without_user_is_refused(env, fields):
    error(register(env, **fields), 400, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")
    assert count(env, "calls") == 0


def test_register_inner_number_of_inactive_user_does_not_resolve(env):
    user = env.user("gone", phone_inner="555")
    deactivate(env, user)
    response = register(env, USER_ID=None, USER_PHONE_INNER="555")
    error(response, 400, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")


def deactivate(env: Env, user_id: int) -> None:
    store = env.app.store
    assert store is not None
    env.run(
        store.driver.execute,
        "UPDATE users SET active = ? WHERE portal_id = ? AND user_id = ?",
        (False, env.portal.id, user_id),
    )


@pytest.mark.parametrize("user_id", [99, "inactive"])
def test_register_unknown_or_inactive_user_is_refused(env, user_id):
    if user_id == "inactive":
        user_id = env.user("gone")
        deactivate(env, user_id)
    error(register(env, USER_ID=user_id), 400, "ERROR_CORE", "User is not found or is not active")
    assert count(env, "calls") == 0


@pytest.mark.parametrize("kind", [None, 0, 6, "2x", "", [1], {"a": 1}, 1.5])
def test_register_unknown_type_is_refused(env, kind):
    error(register(env, TYPE=kind), 400, "ERROR_CORE", "Unknown TYPE")


@pytest.mark.parametrize("kind", [1, 2, 3, 4, 5, "2", " 3", 4.0])
def test_register_accepts_every_type(env, kind):
    call_id = registered(env, TYPE=kind)["CALL_ID"]
    row = finish(env, call_id).json()["result"]
    assert row["INCOMING"] == str(int(float(kind)))


@pytest.mark.parametrize("date", ["yesterday", "2026-13-01T00:00:00", "10:20:30"])
def test_register_bad_start_date_is_refused(env, date):
    response = register(env, CALL_START_DATE=date)
    error(response, 400, "ERROR_CORE", "CALL_START_DATE should be in the ISO-8601 format")


def test_register_start_date_is_the_row_start(env):
    call_id = registered(env, CALL_START_DATE="2026-03-07T10:20:30+03:00")["CALL_ID"]
    finish(env, call_id, DURATION=5)
    row = env.ok("voximplant.statistic.get")["result"][0]
    assert row["CALL_START_DATE"] == "2026-03-07T07:20:30+00:00"


@pytest.mark.parametrize("phone", ["", "abc", "+ ( ) -"])
def test_register_unsupported_phone_is_refused(env, phone):
    error(register(env, PHONE_NUMBER=phone), 400, "ERROR_CORE", "Unsupported phone number format")


def test_register_binds_given_crm_entity(env):
    result = registered(env, CRM_ENTITY_TYPE="contact", CRM_ENTITY_ID="797")
    assert (result["CRM_ENTITY_TYPE"], result["CRM_ENTITY_ID"]) == ("CONTACT", 797)
    row = finish(env, result["CALL_ID"], DURATION=1).json()["result"]
    assert (row["CRM_ENTITY_TYPE"], row["CRM_ENTITY_ID"]) == ("CONTACT", 797)


def test_register_line_number_makes_the_apps_line(env):
    call_id = registered(env, LINE_NUMBER=" 7 ")["CALL_ID"]
    assert env.ok("telephony.externalLine.get")["result"] == [
        {"NUMBER": "7", "NAME": "", "CRM_AUTO_CREATE": "Y"}
    ]
    assert finish(env, call_id).json()["result"]["PORTAL_NUMBER"] == "7"


def test_register_without_line_uses_rest_app_number(oauth):
    _, tokens = oauth.app_tokens(title="PBX")
    result = oauth.ok("telephony.externalCall.register", tokens["access_token"], REGISTER)
    row = oauth.ok(
        "telephony.externalCall.finish",
        tokens["access_token"],
        {"CALL_ID": result["CALL_ID"], "USER_ID": 1},
    )
    app_id = row["REST_APP_ID"]
    assert row["PORTAL_NUMBER"] == f"REST_APP:{app_id}" and row["REST_APP_NAME"] == "PBX"


def test_register_internal_number_is_a_call_between_users(env):
    env.user("colleague", phone_inner="201")
    call_id = registered(env, PHONE_NUMBER="201", CRM_ENTITY_TYPE="CONTACT", CRM_ENTITY_ID=5)[
        "CALL_ID"
    ]
    finish(env, call_id, DURATION=3)
    row = env.ok("voximplant.statistic.get")["result"][0]
    assert row["CALL_CATEGORY"] == "internal" and row["CRM_ENTITY_TYPE"] is None


# -- re-registration ------------------------------------------------------------------


def test_reregistration_within_30_minutes_returns_the_call(oauth):
    env = oauth.env
    first = registered(env, CALL_START_DATE="2020-01-01T00:00:00Z")["CALL_ID"]
    first = registered(env)["CALL_ID"]
    oauth.clock.advance(29 * 60)
    again = registered(env, CRM_ENTITY_TYPE="CONTACT", CRM_ENTITY_ID=3)
    assert again["CALL_ID"] == first
    assert count(env, "calls") == 2  # the first, dated 2020, is outside the window
    oauth.clock.advance(2 * 60)
    assert registered(env)["CALL_ID"] != first


@pytest.mark.parametrize(
    "change",
    [
        {"PHONE_NUMBER": "79780000001"},
        {"TYPE": 2},
        {"EXTERNAL_CALL_ID": "pbx-2"},
        {"LINE_NUMBER": "8"},
    ],
)
def test_reregistration_keys(oauth, change):
    env = oauth.env
    first = registered(env, EXTERNAL_CALL_ID="pbx-1", LINE_NUMBER="7")["CALL_ID"]
    same = registered(env, EXTERNAL_CALL_ID="pbx-1", LINE_NUMBER="7")["CALL_ID"]
    assert same == first
    other = registered(env, **{"EXTERNAL_CALL_ID": "pbx-1", "LINE_NUMBER": "7", **change})
    assert other["CALL_ID"] != first


def test_reregistration_is_scoped_to_the_app(oauth):
    _, tokens = oauth.app_tokens(title="PBX")
    first = registered(oauth.env)["CALL_ID"]
    by_app = oauth.ok("telephony.externalCall.register", tokens["access_token"], REGISTER)
    assert by_app["CALL_ID"] != first
    again = oauth.ok("telephony.externalCall.register", tokens["access_token"], REGISTER)
    assert again["CALL_ID"] == by_app["CALL_ID"]


def test_finished_call_is_not_returned_again(env):
    first = registered(env)["CALL_ID"]
    finish(env, first)
    assert registered(env)["CALL_ID"] != first


# -- finish ---------------------------------------------------------------------------


def test_finish_answers_the_statistics_row(env):
    call_id = registered(env, EXTERNAL_CALL_ID="pbx-9")["CALL_ID"]
    response = finish(
        env, call_id, DURATION=95, COST="100.00", COST_CURRENCY="USD", VOTE=5, ADD_TO_CHAT=0
    )
    assert response.status_code == 200, response.text
    row = response.json()["result"]
    assert list(row) == [
        "CALL_ID",
        "EXTERNAL_CALL_ID",
        "PORTAL_USER_ID",
        "PHONE_NUMBER",
        "PORTAL_NUMBER",
        "INCOMING",
        "CALL_DURATION",
        "CALL_START_DATE",
        "CALL_STATUS",
        "CALL_VOTE",
        "COST",
        "COST_CURRENCY",
        "CALL_FAILED_CODE",
        "CALL_FAILED_REASON",
        "REST_APP_ID",
        "REST_APP_NAME",
        "CRM_ACTIVITY_ID",
        "COMMENT",
        "ID",
    ]
    assert row["CALL_ID"] == call_id and row["EXTERNAL_CALL_ID"] == "pbx-9"
    assert row["PORTAL_USER_ID"] == 1 and row["PHONE_NUMBER"] == "79780000000"
    assert row["PORTAL_NUMBER"] == "REST_APP:" and row["INCOMING"] == "1"
    assert (row["CALL_DURATION"], row["CALL_STATUS"], row["CALL_VOTE"]) == (95, 1, 5)
    assert (row["COST"], row["COST_CURRENCY"]) == (100, "USD")
    assert row["CALL_FAILED_CODE"] == "200" and row["CALL_START_DATE"] == {}
    assert row["REST_APP_ID"] is None and row["REST_APP_NAME"] is False
    listed = env.ok("voximplant.statistic.get")["result"]
    assert [int(item["ID"]) for item in listed] == [row["ID"]]
    assert listed[0]["COST"] == "100.0000" and listed[0]["CALL_ID"] == call_id


@pytest.mark.parametrize(
    ("fields", "code", "status"),
    [
        ({}, "304", 0),
        ({"DURATION": 0}, "304", 0),
        ({"DURATION": 10}, "200", 1),
        ({"DURATION": 10, "STATUS_CODE": "486"}, "486", 1),
        ({"DURATION": 0, "STATUS_CODE": "603-S"}, "603-S", 0),
        ({"DURATION": 3, "STATUS_CODE": ""}, "200", 1),
    ],
)
def test_finish_status_code_default_rule(env, fields, code, status):
    call_id = registered(env)["CALL_ID"]
    row = finish(env, call_id, **fields).json()["result"]
    assert (row["CALL_FAILED_CODE"], row["CALL_STATUS"]) == (code, status)


def test_finish_unknown_call_is_refused(env):
    response = finish(env, "externalCall.00000000000000000000000000000000.1")
    text = "Call is not found (call should be registered prior to finishing)"
    error(response, 400, "ERROR_CORE", text)


def test_finish_twice_is_refused(env):
    call_id = registered(env)["CALL_ID"]
    finish(env, call_id)
    error(finish(env, call_id), 400, "ERROR_CORE")
    assert count(env, "call_statistics") == 1


@pytest.fixture
def core_texts_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env("sqlite", database_urls, tmp_path_factory, error_texts="core")


def test_finish_unknown_call_core_text_lacks_the_parenthesis(core_texts_env):
    response = finish(core_texts_env, "nope")
    text = "Call is not found (call should be registered prior to finishing"
    error(response, 400, "ERROR_CORE", text)


@pytest.mark.parametrize("call_id", [None, 5, ["a"], {"a": "b"}, True])
def test_finish_call_id_must_be_a_string(env, call_id):
    registered(env)
    response = finish(env, call_id)
    error(response, 400, "INVALID_ARGUMENT", "CALL_ID must be a string")
    assert count(env, "call_statistics") == 0


def test_finish_without_user_is_refused(env):
    call_id = registered(env)["CALL_ID"]
    response = finish(env, call_id, USER_ID=None)
    error(response, 400, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")


def test_finish_by_inactive_user_is_refused(env):
    call_id = registered(env)["CALL_ID"]
    user = env.user("gone")
    deactivate(env, user)
    response = finish(env, call_id, USER_ID=user)
    error(response, 400, "ERROR_CORE", "User is not found or is not active")
    assert count(env, "calls") == 1


def test_finish_record_url_is_the_rows_record_url(env):
    call_id = registered(env)["CALL_ID"]
    finish(env, call_id, RECORD_URL="http://127.0.0.1/rec.mp3")
    row = env.ok("voximplant.statistic.get")["result"][0]
    assert row["CALL_RECORD_URL"] == "http://127.0.0.1/rec.mp3"


# -- show and hide --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["show", "hide"])
def test_show_and_hide_answer_true_for_a_live_call(env, method):
    call_id = registered(env)["CALL_ID"]
    for users in (None, 1, [1, 2], "1"):
        body = {"CALL_ID": call_id} if users is None else {"CALL_ID": call_id, "USER_ID": users}
        assert env.ok(f"telephony.externalCall.{method}", body)["result"] is True
    finish(env, call_id)
    assert env.ok(f"telephony.externalCall.{method}", {"CALL_ID": call_id})["result"] is False


@pytest.mark.parametrize("call_id", [None, "nope", ["x"], {"a": 1}, 5, True])
@pytest.mark.parametrize("method", ["show", "hide"])
def test_show_and_hide_answer_false_for_an_unknown_call(env, method, call_id):
    body = {} if call_id is None else {"CALL_ID": call_id}
    assert env.ok(f"telephony.externalCall.{method}", body)["result"] is False


def test_show_does_not_see_another_portals_call(oauth):
    env = oauth.env
    call_id = registered(env)["CALL_ID"]
    other = env.run(env.accounts.create_portal, "other.bitrix24.com")
    env.run(env.accounts.create_user, other, "boss", is_admin=True, user_id=1)
    hook = env.run(env.accounts.create_webhook, other, 1, ["telephony"])
    result = env.ok(
        "telephony.externalCall.show", {"CALL_ID": call_id}, hook=f"/rest/1/{hook.code}/"
    )
    assert result["result"] is False


# -- application context ----------------------------------------------------------------


@pytest.fixture
def denying_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env("sqlite", database_urls, tmp_path_factory, webhook_app_context="deny")


def test_webhook_register_and_finish_are_wrong_auth_type_when_denied(denying_env):
    text = "Current authorization type is denied for this method"
    error(register(denying_env), 403, "WRONG_AUTH_TYPE", text)
    error(finish(denying_env, "x"), 403, "WRONG_AUTH_TYPE", text)
    assert count(denying_env, "calls") == 0


def test_oauth_app_may_register_when_webhooks_are_denied(denying_env):
    from tests.auth.conftest import Clock, OAuth

    oauth = OAuth(denying_env, Clock())
    _, tokens = oauth.app_tokens(title="PBX")
    result = oauth.ok("telephony.externalCall.register", tokens["access_token"], REGISTER)
    assert CALL_ID.fullmatch(result["CALL_ID"])
    assert denying_env.ok("telephony.externalCall.show", {"CALL_ID": result["CALL_ID"]})["result"]


# -- events -----------------------------------------------------------------------------


def test_register_raises_init_and_start_and_finish_raises_end(oauth, recorder: Recorder):
    client_id, tokens = oauth.app_tokens(title="PBX")
    token = tokens["access_token"]
    result = oauth.ok("telephony.externalCall.register", token, REGISTER)
    call_id = result["CALL_ID"]
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART"]
    init = recorder.raised[0]
    assert init.app_id == client_id and init.portal_id == oauth.env.portal.id
    assert init.data["CALL_ID"] == call_id and init.data["CALLER_ID"] == "79780000000"
    assert init.data["CALL_TYPE"] == "1" and init.data["REST_APP_ID"] != ""
    assert recorder.raised[1].data == {"CALL_ID": call_id, "USER_ID": "1"}
    oauth.ok("telephony.externalCall.register", token, REGISTER)  # a re-registration
    assert len(recorder.raised) == 2
    body = {"CALL_ID": call_id, "USER_ID": 1, "DURATION": 60, "COST": "1.5", "COST_CURRENCY": "EUR"}
    oauth.ok("telephony.externalCall.finish", token, body)
    end = recorder.raised[-1]
    assert end.event == "ONVOXIMPLANTCALLEND"
    assert end.data["CALL_ID"] == call_id and end.data["CALL_DURATION"] == "60"
    assert end.data["COST"] == "1.5" and end.data["CALL_FAILED_CODE"] == "200"
    assert end.data["PORTAL_USER_ID"] == "1" and end.data["CALL_TYPE"] == "1"


# -- the bad-input table: documented errors, never a 500, nothing stored ----------------

BAD = [
    ("register", {"USER_ID": ["1"]}, 400, "ERROR_ARGUMENT"),
    ("register", {"USER_ID": {"a": 1}}, 400, "ERROR_ARGUMENT"),
    ("register", {"USER_ID": None, "USER_PHONE_INNER": ["1"]}, 400, "ERROR_ARGUMENT"),
    ("register", {"PHONE_NUMBER": ["1"]}, 400, "ERROR_ARGUMENT"),
    ("register", {"PHONE_NUMBER": None}, 400, "ERROR_CORE"),
    ("register", {"PHONE_NUMBER": "7" * 300}, 400, "ERROR_ARGUMENT"),
    ("register", {"PHONE_NUMBER": "7" * 255}, 200, None),
    ("register", {"CALL_START_DATE": ["x"]}, 400, "ERROR_ARGUMENT"),
    ("register", {"CALL_START_DATE": 12345}, 400, "ERROR_CORE"),
    ("register", {"LINE_NUMBER": {"a": 1}}, 400, "ERROR_ARGUMENT"),
    ("register", {"EXTERNAL_CALL_ID": [1]}, 400, "ERROR_ARGUMENT"),
    ("register", {"EXTERNAL_CALL_ID": "x" * 256}, 400, "ERROR_ARGUMENT"),
    ("register", {"CRM_ENTITY_TYPE": "LEAD", "CRM_ENTITY_ID": 2**40}, 200, None),
    ("register", {"CALL_LIST_ID": 2**40}, 200, None),
    ("register", {"CRM_ENTITY_TYPE": "DEAL", "CRM_ENTITY_ID": 1}, 200, None),
    ("register", {"CRM_ENTITY_ID": [1]}, 400, "ERROR_ARGUMENT"),
    ("register", {"USER_ID": 2**70}, 400, "ERROR_CORE"),
    ("register", {"USER_ID": -1}, 400, "ERROR_CORE"),
    ("finish", {"USER_ID": [1], "CALL_ID": "x"}, 400, "ERROR_ARGUMENT"),
    ("finish", {"USER_ID": 1, "CALL_ID": "x", "DURATION": [1]}, 400, "ERROR_ARGUMENT"),
    ("finish", {"USER_ID": 1, "CALL_ID": "x", "COST": {"a": 1}}, 400, "ERROR_ARGUMENT"),
    ("finish", {"USER_ID": 1, "CALL_ID": "x", "STATUS_CODE": [200]}, 400, "ERROR_ARGUMENT"),
    ("finish", {"USER_ID": 1, "CALL_ID": "unknown"}, 400, "ERROR_CORE"),
    ("finish", {"USER_ID": 99, "CALL_ID": "unknown"}, 400, "ERROR_CORE"),
    ("show", {"CALL_ID": {"a": [1]}, "USER_ID": {"x": "y"}}, 200, None),
    ("hide", {"CALL_ID": "x" * 5000}, 200, None),
]


@pytest.mark.parametrize(("method", "body", "status", "code"), BAD)
def test_bad_input_gets_a_documented_error(env, method, body, status, code):
    if method == "register":
        body = {**REGISTER, **body}
    response = env.call(f"telephony.externalCall.{method}", body)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"] == code
        assert count(env, "calls") == 0 and count(env, "call_statistics") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"CALL_ID": "CALL", "USER_ID": 1, "DURATION": "1e30", "COST": "1e30", "VOTE": "9" * 40},
        {"CALL_ID": "CALL", "USER_ID": 1, "DURATION": -5, "COST": "abc", "VOTE": -3},
        {"CALL_ID": "CALL", "USER_ID": 1, "STATUS_CODE": "x" * 1000, "COST_CURRENCY": "y" * 99},
    ],
)
def test_finish_odd_values_are_stored_safely(env, body):
    call_id = registered(env)["CALL_ID"]
    response = env.call("telephony.externalCall.finish", {**body, "CALL_ID": call_id})
    assert response.status_code == 200, response.text
    assert env.ok("voximplant.statistic.get")["total"] == 1


def test_finish_unknown_call_by_inactive_user_is_not_found_first(env):
    user = env.user("gone")
    deactivate(env, user)
    response = finish(env, "externalCall.ffffffffffffffffffffffffffffffff.1", USER_ID=user)
    error(
        response,
        400,
        "ERROR_CORE",
        "Call is not found (call should be registered prior to finishing)",
    )


def test_finish_refused_for_its_user_leaves_the_call_to_finish(env):
    call_id = registered(env)["CALL_ID"]
    user = env.user("gone")
    deactivate(env, user)
    error(
        finish(env, call_id, USER_ID=user), 400, "ERROR_CORE", "User is not found or is not active"
    )
    assert finish(env, call_id).json()["result"]["CALL_ID"] == call_id
    assert count(env, "calls") == 0
