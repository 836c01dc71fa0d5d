"""telephony.externalLine.add/update/get/delete through the wire, on every backend: the
pages' fields, results and errors, lines per app and per portal, the webhook setting,
and the bad-input table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth.conftest import error
from tests.conftest import Env, make_env


def add(env: Env, number: str = "74951234567", **fields: Any) -> Any:
    return env.call("telephony.externalLine.add", {"NUMBER": number, **fields})


def lines(env: Env, hook: str | None = None) -> list[dict[str, str]]:
    result: list[dict[str, str]] = env.ok("telephony.externalLine.get", hook=hook)["result"]
    return result


def test_add_returns_integer_id_and_get_lists_the_line(env):
    response = add(env, " 74951234567 ", NAME="Main external line", CRM_AUTO_CREATE="Y")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert isinstance(result["ID"], int) and result["ID"] > 0
    assert lines(env) == [
        {"NUMBER": "74951234567", "NAME": "Main external line", "CRM_AUTO_CREATE": "Y"}
    ]


def test_add_defaults_name_empty_and_crm_auto_create_y(env):
    add(env, "100")
    add(env, "101", CRM_AUTO_CREATE="N")
    add(env, "102", CRM_AUTO_CREATE="yes")
    assert lines(env) == [
        {"NUMBER": "100", "NAME": "", "CRM_AUTO_CREATE": "Y"},
        {"NUMBER": "101", "NAME": "", "CRM_AUTO_CREATE": "N"},
        {"NUMBER": "102", "NAME": "", "CRM_AUTO_CREATE": "N"},
    ]


def test_add_taken_number_is_line_already_exists(env):
    add(env, "100")
    error(add(env, " 100 "), 400, "ERROR_CORE", "Line already exists")
    assert len(lines(env)) == 1


@pytest.mark.parametrize("number", [None, "", "   "])
def test_add_empty_number_is_refused(env, number):
    body = {} if number is None else {"NUMBER": number}
    response = env.call("telephony.externalLine.add", body)
    error(response, 400, "ERROR_CORE", "NUMBER should not be empty")
    assert lines(env) == []


def test_add_cuts_number_to_fifty_characters(env):
    add(env, "1" * 60)
    assert lines(env)[0]["NUMBER"] == "1" * 50


def test_update_changes_name_and_crm_and_answers_string_id(env):
    line_id = add(env, "100", NAME="Old").json()["result"]["ID"]
    response = env.call(
        "telephony.externalLine.update",
        {"NUMBER": "100", "NAME": "Support", "CRM_AUTO_CREATE": "N"},
    )
    assert response.json()["result"] == {"ID": str(line_id)}
    assert lines(env) == [{"NUMBER": "100", "NAME": "Support", "CRM_AUTO_CREATE": "N"}]
    env.ok("telephony.externalLine.update", {"NUMBER": "100", "CRM_AUTO_CREATE": "Y"})
    assert lines(env)[0] == {"NUMBER": "100", "NAME": "Support", "CRM_AUTO_CREATE": "Y"}


def test_update_without_fields_is_refused_before_number(env):
    response = env.call("telephony.externalLine.update", {})
    error(response, 400, "ERROR_CORE", "There are no fields to update")


def test_update_empty_number_is_refused(env):
    response = env.call("telephony.externalLine.update", {"NUMBER": " ", "NAME": "x"})
    error(response, 400, "ERROR_CORE", "NUMBER should not be empty")


def test_update_unknown_number_is_not_found(env):
    response = env.call("telephony.externalLine.update", {"NUMBER": "555", "NAME": "x"})
    error(response, 400, "ERROR_CORE", "Could not find line with number 555")


def test_delete_answers_empty_list_and_removes_the_line(env):
    add(env, "100")
    add(env, "200")
    assert env.ok("telephony.externalLine.delete", {"NUMBER": "100"})["result"] == []
    assert [line["NUMBER"] for line in lines(env)] == ["200"]


def test_delete_unknown_and_empty_numbers_are_refused(env):
    response = env.call("telephony.externalLine.delete", {"NUMBER": "555"})
    error(response, 400, "ERROR_CORE", "Could not find line with number 555")
    response = env.call("telephony.externalLine.delete", {})
    error(response, 400, "ERROR_CORE", "NUMBER should not be empty")


def test_method_names_are_case_insensitive(env):
    env.ok("telephony.externalline.add", {"number": "100"})
    assert [line["NUMBER"] for line in lines(env)] == ["100"]


# -- lines per app and per portal ---------------------------------------------------


def test_lines_belong_to_the_calling_app(oauth):
    _, first = oauth.app_tokens(title="First")
    _, second = oauth.app_tokens(title="Second")
    oauth.ok("telephony.externalLine.add", first["access_token"], {"NUMBER": "100"})
    # another app may have the same number; the webhook ("no application") too
    oauth.ok("telephony.externalLine.add", second["access_token"], {"NUMBER": "100"})
    add(oauth.env, "100")
    assert oauth.ok("telephony.externalLine.get", first["access_token"]) == [
        {"NUMBER": "100", "NAME": "", "CRM_AUTO_CREATE": "Y"}
    ]
    oauth.ok("telephony.externalLine.delete", second["access_token"], {"NUMBER": "100"})
    assert oauth.ok("telephony.externalLine.get", second["access_token"]) == []
    assert len(oauth.ok("telephony.externalLine.get", first["access_token"])) == 1
    assert len(lines(oauth.env)) == 1


def test_lines_belong_to_the_calling_portal(oauth):
    env = oauth.env
    other = env.run(env.accounts.create_portal, "other.bitrix24.com")
    env.run(env.accounts.create_user, other, "boss", is_admin=True, user_id=1)
    hook = env.run(env.accounts.create_webhook, other, 1, ["telephony"])
    add(env, "100")
    other_hook = f"/rest/1/{hook.code}/"
    assert lines(env, other_hook) == []
    env.ok("telephony.externalLine.add", {"NUMBER": "100"}, hook=other_hook)
    assert len(lines(env, other_hook)) == 1 and len(lines(env)) == 1


@pytest.fixture
def denying_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env("sqlite", database_urls, tmp_path_factory, webhook_app_context="deny")


@pytest.mark.parametrize(
    "method", ["add", "update", "get", "delete"], ids=lambda m: f"externalLine.{m}"
)
def test_webhook_is_wrong_auth_type_when_denied(denying_env, method):
    response = denying_env.call(f"telephony.externalLine.{method}", {"NUMBER": "1", "NAME": "x"})
    error(response, 403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
    assert lines_of(denying_env) == 0


def lines_of(env: Env) -> int:
    store = env.app.store
    assert store is not None
    row = env.run(store.driver.fetch_one, "SELECT COUNT(*) FROM external_lines")
    return int(row[0])


# -- the bad-input table: documented errors, never a 500, nothing stored ------------

BAD = [
    ("add", {"NUMBER": ["1"]}, 400, "ERROR_ARGUMENT"),
    ("add", {"NUMBER": {"a": "1"}}, 400, "ERROR_ARGUMENT"),
    ("add", {"NUMBER": "1", "NAME": ["x"]}, 400, "ERROR_ARGUMENT"),
    ("add", {"NUMBER": "1", "CRM_AUTO_CREATE": {"x": 1}}, 400, "ERROR_ARGUMENT"),
    ("add", {"NUMBER": "1\x00"}, 400, "ERROR_ARGUMENT"),
    ("add", {"NUMBER": True, "NAME": 5}, 200, None),
    ("add", {"NUMBER": 0}, 200, None),
    ("add", {}, 400, "ERROR_CORE"),
    ("update", {"NUMBER": ["1"], "NAME": "x"}, 400, "ERROR_ARGUMENT"),
    ("update", {"NUMBER": "nope", "NAME": "x"}, 400, "ERROR_CORE"),
    ("update", {"NUMBER": "1", "NAME": ["x"]}, 400, "ERROR_ARGUMENT"),
    ("update", {"NUMBER": 1}, 400, "ERROR_CORE"),
    ("delete", {"NUMBER": ["1"]}, 400, "ERROR_ARGUMENT"),
    ("delete", {"NUMBER": "nope"}, 400, "ERROR_CORE"),
    ("delete", {"NUMBER": None}, 400, "ERROR_CORE"),
    ("get", {"NUMBER": ["x"], "junk": {"a": [1]}}, 200, None),
]


@pytest.mark.parametrize(("method", "body", "status", "code"), BAD)
def test_bad_input_gets_a_documented_error(env, method, body, status, code):
    before = lines(env)
    response = env.call(f"telephony.externalLine.{method}", body)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"] == code
        assert lines(env) == before
