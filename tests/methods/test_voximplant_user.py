"""voximplant.user.get/.activatePhone/.deactivatePhone through the wire, on every backend:
the documented fields, who may read and change whose phone, an application's
confirmation, and a bad-input table (never a 500, nothing stored)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from trunkline.services.lines import incoming_server


def error(response, status, code, description=None):
    """An error envelope (``argument`` may ride along with ERROR_ARGUMENT)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description, body
    assert "result" not in body and "time" not in body
    return body


def get(env, ids, **kwargs):
    return env.ok("voximplant.user.get", {"USER_ID": ids}, **kwargs)["result"]


def phones_rows(env):
    async def rows():
        return await env.app.store.driver.fetch_all("SELECT * FROM user_phones")

    return env.run(rows)


def test_user_get_before_any_activation(env):
    assert get(env, 1) == [
        {
            "ID": "1",
            "DEFAULT_LINE": None,
            "PHONE_ENABLED": None,
            "SIP_SERVER": incoming_server(env.app.settings),
            "SIP_LOGIN": "phone1",
            "SIP_PASSWORD": None,
            "INNER_NUMBER": None,
        }
    ]


def test_activate_makes_a_password_and_keeps_it(env):
    assert env.ok("voximplant.user.activatePhone", {"USER_ID": 1})["result"] == 1
    (row,) = get(env, "1")
    assert row["PHONE_ENABLED"] == "Y"
    assert re.fullmatch(r"[0-9a-f]{12}", row["SIP_PASSWORD"])
    env.ok("voximplant.user.deactivatePhone", {"USER_ID": "1"})
    (off,) = get(env, 1)
    assert off["PHONE_ENABLED"] == "N" and off["SIP_PASSWORD"] == row["SIP_PASSWORD"]
    env.ok("voximplant.user.activatePhone", {"USER_ID": 1})
    assert get(env, 1)[0]["SIP_PASSWORD"] == row["SIP_PASSWORD"]


def test_user_get_many_skips_unknown_users(env):
    two = env.user("bob", phone_inner="102")
    rows = get(env, [two, 1, 999])
    assert [r["ID"] for r in rows] == ["1", str(two)]
    assert rows[1]["INNER_NUMBER"] == "102" and rows[1]["SIP_LOGIN"] == f"phone{two}"


def test_user_get_form_list(env):
    two = env.user("bob")
    response = env.client.post(
        env.hook + "voximplant.user.get",
        content=f"USER_ID[]=1&USER_ID[]={two}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert [r["ID"] for r in response.json()["result"]] == ["1", str(two)]


def test_employee_reads_and_changes_only_own_phone(env):
    bob = env.user("bob")
    hook = env.webhook(bob)
    assert [r["ID"] for r in get(env, [1, bob], hook=hook)] == [str(bob)]
    error(
        env.call("voximplant.user.get", {"USER_ID": 1}, hook=hook),
        403,
        "ACCESS_DENIED",
        "Access denied! You have no permission to query selected users",
    )
    error(
        env.call("voximplant.user.activatePhone", {"USER_ID": 1}, hook=hook),
        400,
        "",
        "You are not allowed to modify user's settings",
    )
    assert phones_rows(env) == []
    assert env.ok("voximplant.user.activatePhone", {"USER_ID": bob}, hook=hook)["result"] == 1


@pytest.mark.parametrize(
    ("answer", "status", "code", "text"),
    [
        ("waiting", 401, "METHOD_CONFIRM_WAITING", "Waiting for confirmation"),
        ("denied", 403, "METHOD_CONFIRM_DENIED", "Method call denied"),
    ],
)
def test_application_needs_confirmation(oauth, answer, status, code, text):
    _, auth = oauth.app_tokens()
    telephony = oauth.env.app.services.telephony
    assert oauth.ok("voximplant.user.get", auth["access_token"], {"USER_ID": 1})[0]["ID"] == "1"
    telephony.settings = dataclasses.replace(telephony.settings, user_get_confirmation=answer)
    error(
        oauth.call("voximplant.user.get", auth["access_token"], {"USER_ID": 1}), status, code, text
    )
    # A webhook never waits for the confirmation.
    assert get(oauth.env, 1)[0]["ID"] == "1"


# -- bad input: never a 500, nothing stored -----------------------------------------

NOT_SET = (400, "", "Parameter USER_ID is not set")
NESTED = (400, "ERROR_ARGUMENT", None)
DENIED = (403, "ACCESS_DENIED", "Access denied! You have no permission to query selected users")

BAD_GET = [
    ({}, NOT_SET),
    ({"USER_ID": None}, NOT_SET),
    ({"user_id": 1}, NOT_SET),
    ({"USER_ID": [[1]]}, NESTED),
    ({"USER_ID": [{"a": 1}]}, NESTED),
    ({"USER_ID": []}, DENIED),
    ({"USER_ID": {}}, DENIED),
]


@pytest.mark.parametrize(("payload", "expected"), BAD_GET)
def test_user_get_bad_input(env, payload, expected):
    error(env.call("voximplant.user.get", payload), *expected)


@pytest.mark.parametrize("value", ["abc", 0, "0", -5, 1e300, "9" * 40])
def test_user_get_junk_ids_answer_nothing(env, value):
    assert env.ok("voximplant.user.get", {"USER_ID": value})["result"] == []


BAD_PHONE = [
    ({}, NOT_SET),
    ({"USER_ID": None}, NOT_SET),
    ({"USER_ID": "abc"}, NOT_SET),
    ({"USER_ID": 0}, NOT_SET),
    ({"user_id": 1}, NOT_SET),
    ({"USER_ID": [1]}, NESTED),
    ({"USER_ID": {"a": 1}}, NESTED),
]


@pytest.mark.parametrize("method", ["activatePhone", "deactivatePhone"])
@pytest.mark.parametrize(("payload", "expected"), BAD_PHONE)
def test_phone_switch_bad_input(env, method, payload, expected):
    error(env.call(f"voximplant.user.{method}", payload), *expected)
    assert phones_rows(env) == []


@pytest.mark.parametrize("value", [999, -1, "9" * 40])
def test_phone_switch_unknown_user_answers_one_and_stores_nothing(env, value):
    assert env.ok("voximplant.user.activatePhone", {"USER_ID": value})["result"] == 1
    assert phones_rows(env) == []
