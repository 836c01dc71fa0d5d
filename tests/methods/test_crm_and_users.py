"""The minimal CRM and users through the wire, on every backend: register fills CRM_*,
CRM_CREATE makes a lead, telephony.externalCall.searchCrmEntities, user.get/current/update
with their filters, and the bad-input table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import error
from tests.conftest import Env

REGISTER = {"USER_ID": 1, "PHONE_NUMBER": "+7 978 000-00-00", "TYPE": 2}


def seed(env: Env, *items: dict[str, Any]) -> list[int]:
    ids: list[int] = env.run(env.app.services.crm.add_many, env.portal, list(items))
    return ids


def user_hook(env: Env) -> str:
    return env.webhook(1, ["telephony", "user"])


def count(env: Env, table: str) -> int:
    store = env.app.store
    assert store is not None
    found = env.run(store.driver.fetch_one, f"SELECT COUNT(*) FROM {table}")
    return int(found[0])


# -- register and the CRM -------------------------------------------------------------


def test_register_binds_the_contact_with_the_number(env):
    company, contact = seed(
        env,
        {"type": "company", "name": "Daisy LLC", "phones": ["79780000000"]},
        {"type": "contact", "name": "John Doe", "phones": "8 800, +7 (978) 000-00-00"},
    )
    result = env.ok("telephony.externalCall.register", REGISTER)["result"]
    assert (result["CRM_ENTITY_TYPE"], result["CRM_ENTITY_ID"]) == ("CONTACT", contact)
    assert result["CRM_CREATED_LEAD"] is None and result["CRM_CREATED_ENTITIES"] == []
    row = env.ok("telephony.externalCall.finish", {"CALL_ID": result["CALL_ID"], "USER_ID": 1})[
        "result"
    ]
    assert (row["CRM_ENTITY_TYPE"], row["CRM_ENTITY_ID"]) == ("CONTACT", contact)
    assert company < contact


def test_register_crm_create_makes_a_lead_when_nothing_matches(env):
    result = env.ok("telephony.externalCall.register", {**REGISTER, "CRM_CREATE": 1})["result"]
    lead = result["CRM_CREATED_LEAD"]
    assert isinstance(lead, int) and lead > 0
    assert result["CRM_CREATED_ENTITIES"] == [{"ENTITY_TYPE": "LEAD", "ENTITY_ID": lead}]
    assert (result["CRM_ENTITY_TYPE"], result["CRM_ENTITY_ID"]) == ("LEAD", lead)
    found = env.ok("telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": "79780000000"})
    assert [(e["CRM_ENTITY_TYPE"], e["CRM_ENTITY_ID"]) for e in found["result"]] == [("LEAD", lead)]
    # the lead matches from now on: no second lead for the same number
    again = env.ok("telephony.externalCall.register", {**REGISTER, "TYPE": 1, "CRM_CREATE": 1})[
        "result"
    ]
    assert again["CRM_CREATED_LEAD"] is None and again["CRM_ENTITY_ID"] == lead


def test_register_without_crm_create_makes_no_lead(env):
    result = env.ok("telephony.externalCall.register", {**REGISTER, "CRM_CREATE": 0})["result"]
    assert result["CRM_ENTITY_TYPE"] == "" and count(env, "crm_entities") == 0


def test_outgoing_call_on_a_line_without_auto_create_makes_no_lead(env):
    env.ok("telephony.externalLine.add", {"NUMBER": "7", "CRM_AUTO_CREATE": "N"})
    body = {**REGISTER, "TYPE": 1, "CRM_CREATE": 1, "LINE_NUMBER": "7"}
    assert env.ok("telephony.externalCall.register", body)["result"]["CRM_CREATED_LEAD"] is None
    body["TYPE"] = 2  # an incoming call still creates one
    assert env.ok("telephony.externalCall.register", body)["result"]["CRM_CREATED_LEAD"]


def test_search_lists_contacts_leads_companies_with_their_users(env):
    env.user("op", phone_inner="107", user_id=7)
    company, lead, contact = seed(
        env,
        {"type": "company", "name": "Daisy LLC", "phones": ["19062195047"], "assigned_by": 7},
        {"type": "lead", "name": "Lead", "phones": ["1 906 219 5047"]},
        {"type": "contact", "name": "John Doe", "phones": ["+19062195047"], "assigned_by": 7},
    )
    body = env.ok("telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": "19062195047"})
    assert body["result"] == [
        {
            "CRM_ENTITY_TYPE": "CONTACT",
            "CRM_ENTITY_ID": contact,
            "ASSIGNED_BY_ID": 7,
            "NAME": "John Doe",
            "ASSIGNED_BY": {
                "ID": "7",
                "TIMEMAN_STATUS": "NOT_INSTALLED",
                "USER_PHONE_INNER": "107",
                "WORK_PHONE": None,
                "PERSONAL_PHONE": None,
                "PERSONAL_MOBILE": None,
            },
        },
        {
            "CRM_ENTITY_TYPE": "LEAD",
            "CRM_ENTITY_ID": lead,
            "ASSIGNED_BY_ID": 1,
            "NAME": "Lead",
            "ASSIGNED_BY": {
                "ID": "1",
                "TIMEMAN_STATUS": "NOT_INSTALLED",
                "USER_PHONE_INNER": None,
                "WORK_PHONE": None,
                "PERSONAL_PHONE": None,
                "PERSONAL_MOBILE": None,
            },
        },
        {
            "CRM_ENTITY_TYPE": "COMPANY",
            "CRM_ENTITY_ID": company,
            "ASSIGNED_BY_ID": 7,
            "NAME": "Daisy LLC",
            "ASSIGNED_BY": body["result"][0]["ASSIGNED_BY"],
        },
    ]
    empty = env.ok("telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": "79780000000"})
    assert empty["result"] == []


@pytest.mark.parametrize("phone", [None, ""])
def test_search_without_number_is_refused(env, phone):
    body = {} if phone is None else {"PHONE_NUMBER": phone}
    response = env.call("telephony.externalCall.searchCrmEntities", body)
    error(response, 400, "ERROR_CORE", "PHONE_NUMBER is empty")


def test_crm_is_per_portal(env):
    seed(env, {"type": "contact", "name": "John", "phones": ["79780000000"]})
    other = env.run(env.accounts.create_portal, "other.bitrix24.com")
    env.run(env.accounts.create_user, other, "boss", is_admin=True, user_id=1)
    hook = env.run(env.accounts.create_webhook, other, 1, ["telephony"])
    found = env.ok(
        "telephony.externalCall.searchCrmEntities",
        {"PHONE_NUMBER": "79780000000"},
        hook=f"/rest/1/{hook.code}/",
    )
    assert found["result"] == []


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ({"type": "deal", "name": "x"}, "type 'deal' is not CONTACT, COMPANY or LEAD"),
        ({"type": "contact", "name": ""}, "name '' should have 1 to 255 characters"),
        (
            {"type": "contact", "name": "x", "assigned_by": 99},
            "portal test.bitrix24.com has no user 99",
        ),
        (
            {"type": "contact", "name": "x", "assigned_by": "me"},
            "assigned_by 'me' is not a user id",
        ),
        ({"type": "contact", "name": "x", "phones": ["abc"]}, "phone 'abc' is not a phone number"),
    ],
)
def test_seeding_refuses_bad_entities_and_stores_none(env, item, text):
    from trunkline.services.crm import CrmInputError

    good = {"type": "lead", "name": "ok", "phones": ["1"]}
    with pytest.raises(CrmInputError, match="^" + text.replace("(", r"\(") + "$"):
        seed(env, good, item)
    assert count(env, "crm_entities") == 0


# -- users ----------------------------------------------------------------------------


def test_user_current_is_the_caller(env):
    env.user("op", name="Olga", last_name="Ivanova", phone_inner="107", email="o@x.test")
    hook = env.webhook(2, ["user"])
    body = env.ok("user.current", hook=hook)
    assert body["result"] == {
        "ID": "2",
        "ACTIVE": True,
        "NAME": "Olga",
        "LAST_NAME": "Ivanova",
        "EMAIL": "o@x.test",
        "UF_PHONE_INNER": "107",
        "USER_TYPE": "employee",
    }


def test_user_get_filters_sorts_and_pages(env):
    hook = user_hook(env)
    for n in range(2, 61):
        env.user(f"u{n}", name=f"User{n}", phone_inner=str(100 + n))
    body = env.ok("user.get", hook=hook)
    assert body["total"] == 60 and body["next"] == 50 and len(body["result"]) == 50
    assert body["result"][0]["ID"] == "1"
    second = env.ok("user.get", {"start": 50}, hook=hook)
    assert [u["ID"] for u in second["result"]] == [str(n) for n in range(51, 61)]
    assert "next" not in second
    one = env.ok("user.get", {"FILTER": {"UF_PHONE_INNER": "107"}}, hook=hook)["result"]
    assert [u["ID"] for u in one] == ["7"]
    top = env.ok("user.get", {"ID": 9}, hook=hook)["result"]
    assert [u["ID"] for u in top] == ["9"]
    some = env.ok("user.get", {"FILTER": {"@ID": [3, 4, 99]}}, hook=hook)["result"]
    assert [u["ID"] for u in some] == ["3", "4"]
    ranged = env.ok("user.get", {"FILTER": {">=ID": 58}, "sort": "ID", "order": "DESC"}, hook=hook)
    assert [u["ID"] for u in ranged["result"]] == ["60", "59", "58"]
    named = env.ok("user.get", {"FILTER": {"%NAME": "user5"}}, hook=hook)["result"]
    assert [u["ID"] for u in named] == ["5", *[str(n) for n in range(50, 60)]]
    like = env.ok("user.get", {"FILTER": {"=%NAME": "User6%"}}, hook=hook)["result"]
    assert [u["ID"] for u in like] == ["6", "60"]
    unknown = env.ok("user.get", {"FILTER": {"NO_SUCH": 1, "!ID": 1}}, hook=hook)
    assert unknown["total"] == 59


def test_user_update_changes_the_flow_fields(env):
    hook = user_hook(env)
    user = env.user("op")
    body = {"ID": user, "NAME": "N", "LAST_NAME": "L", "UF_PHONE_INNER": "123", "EMAIL": "e@x"}
    assert env.ok("user.update", body, hook=hook)["result"] is True
    got = env.ok("user.get", {"ID": user}, hook=hook)["result"][0]
    assert (got["NAME"], got["LAST_NAME"], got["UF_PHONE_INNER"], got["EMAIL"]) == (
        "N",
        "L",
        "123",
        "e@x",
    )
    env.ok("user.update", {"ID": user, "ACTIVE": "N"}, hook=hook)
    assert env.ok("user.get", {"FILTER": {"ACTIVE": True}}, hook=hook)["total"] == 1
    # the inner number now resolves the user for register, until the user is inactive
    response = env.call(
        "telephony.externalCall.register", {**REGISTER, "USER_ID": None, "USER_PHONE_INNER": "123"}
    )
    error(response, 400, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")
    env.ok("user.update", {"ID": user, "ACTIVE": True}, hook=hook)
    env.ok(
        "telephony.externalCall.register", {**REGISTER, "USER_ID": None, "USER_PHONE_INNER": "123"}
    )


@pytest.mark.parametrize("user_id", [99, 0, None, "x", 2**40])
def test_user_update_unknown_user_is_access_denied(env, user_id):
    body = {"NAME": "x"} if user_id is None else {"ID": user_id, "NAME": "x"}
    error(env.call("user.update", body, hook=user_hook(env)), 400, "ERROR_CORE", "access_denied")


def test_user_update_by_non_admin_is_access_denied(env):
    env.user("op")
    hook = env.webhook(2, ["user"])
    error(
        env.call("user.update", {"ID": 2, "NAME": "x"}, hook=hook),
        400,
        "ERROR_CORE",
        "access_denied",
    )


def test_user_methods_need_the_user_scope(env):
    response = env.call("user.get")  # the telephony-only webhook
    assert response.status_code == 401 and response.json()["error"] == "insufficient_scope"


BAD = [
    ("user.update", {"ID": [1], "NAME": "x"}, "ERROR_ARGUMENT"),
    ("user.update", {"ID": 1, "NAME": ["x"]}, "ERROR_ARGUMENT"),
    ("user.update", {"ID": 1, "ACTIVE": {"a": 1}}, "ERROR_ARGUMENT"),
    ("user.update", {"ID": 1, "UF_PHONE_INNER": "1" * 40}, "ERROR_ARGUMENT"),
    ("telephony.externalCall.searchCrmEntities", {"PHONE_NUMBER": ["1"]}, "ERROR_ARGUMENT"),
]


@pytest.mark.parametrize(("method", "body", "code"), BAD)
def test_bad_input_gets_a_documented_error(env, method, body, code):
    response = env.call(method, body, hook=user_hook(env))
    assert response.status_code == 400 and response.json()["error"] == code
    admin = env.ok("user.current", hook=user_hook(env))["result"]
    assert admin["NAME"] == "Ada" and admin["UF_PHONE_INNER"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"FILTER": "x"},
        {"FILTER": {">NAME": [1, 2]}},
        {"FILTER": {"ID": {"a": [1]}}},
        {"sort": ["x"]},
    ],
)
def test_user_get_odd_filters_do_not_fail(env, body):
    assert env.call("user.get", body, hook=user_hook(env)).status_code == 200
