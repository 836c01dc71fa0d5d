"""The call simulator's app events through the operator API: a click registers the call
for the app and delivers ONEXTERNALCALLSTART (with the CALL_ID the app then finishes) to
that app's handler only; a callback delivers ONEXTERNALCALLBACKSTART; bad requests."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.auth.conftest import OAuth
from tests.web.conftest import AUTH, error_of, op
from trunkline.testing.handler import EventReceiver

PATH = "/operator/portals/test.bitrix24.com/calls"


@pytest.fixture
def oauth_ops(ops):
    from tests.auth.conftest import Clock

    clock = Clock()
    ops.app.clock.use(clock)
    return OAuth(ops, clock)


def install(oauth: OAuth, title: str = "PBX") -> tuple[str, dict[str, Any], int]:
    client_id, auth = oauth.app_tokens(title=title)
    installation = oauth.env.run(oauth.apps.installation, oauth.env.portal, client_id)
    return client_id, auth, installation.id


def bind(oauth: OAuth, install_id: int, url: str, event: str) -> int:
    store = oauth.env.app.store
    assert store is not None
    binding: int = oauth.env.run(
        store.events.bind, oauth.env.portal.id, install_id, event, url, now=time.time()
    )
    return binding


def test_click_registers_the_call_and_delivers_the_event(oauth_ops):
    env = oauth_ops.env
    client_id, auth, install_id = install(oauth_ops)
    _, _, other = install(oauth_ops, "Other")
    [contact] = env.run(
        env.app.services.crm.add_many,
        env.portal,
        [{"type": "contact", "name": "John", "phones": ["+494951234567"]}],
    )
    with EventReceiver() as receiver, EventReceiver() as bystander:
        binding = bind(oauth_ops, install_id, receiver.url, "ONEXTERNALCALLSTART")
        bind(oauth_ops, other, bystander.url, "ONEXTERNALCALLSTART")
        body = {"user": 1, "phone": "+494951234567", "crm": f"CONTACT:{contact}", "app": client_id}
        answer = op(env, "POST", f"{PATH}/click", body, 201)
        [form] = receiver.wait(1)
    event = dict(form)
    assert event["event"] == "ONEXTERNALCALLSTART" and event["event_handler_id"] == str(binding)
    assert {k: v for k, v in event.items() if k.startswith("data[") and "CREATED" not in k} == {
        "data[PHONE_NUMBER]": "+494951234567",
        "data[PHONE_NUMBER_INTERNATIONAL]": "+494951234567",
        "data[EXTENSION]": "",
        "data[USER_ID]": "1",
        "data[CALL_LIST_ID]": "0",
        "data[LINE_NUMBER]": "",
        "data[IS_MOBILE]": "0",
        "data[CALL_ID]": answer["call_id"],
        "data[CRM_ENTITY_TYPE]": "CONTACT",
        "data[CRM_ENTITY_ID]": str(contact),
    }
    assert event["auth[application_token]"] == auth["application_token"]
    assert bystander.forms == []  # only the line's app hears the click
    # the app goes on with the CALL_ID: finish it with its own token
    row = oauth_ops.ok(
        "telephony.externalCall.finish",
        auth["access_token"],
        {"CALL_ID": answer["call_id"], "USER_ID": 1, "DURATION": 12},
    )
    assert row["CRM_ENTITY_ID"] == contact and row["REST_APP_NAME"] == "PBX"


def test_click_on_a_line_picks_its_app_and_creates_a_lead(oauth_ops):
    env = oauth_ops.env
    client_id, auth, _ = install(oauth_ops)
    install(oauth_ops, "Other")
    oauth_ops.ok("telephony.externalLine.add", auth["access_token"], {"NUMBER": "7"})
    answer = op(env, "POST", f"{PATH}/click", {"user": 1, "phone": "79780000000", "line": "7"}, 201)
    assert answer["app"] == client_id and answer["data"]["LINE_NUMBER"] == "7"
    lead = answer["data"]["CRM_CREATED_LEAD"]
    assert lead and answer["data"]["CRM_ENTITY_TYPE"] == "LEAD"
    assert answer["data"]["CRM_CREATED_ENTITIES"] == [{"ENTITY_TYPE": "LEAD", "ENTITY_ID": lead}]


def test_callback_delivers_its_event(oauth_ops):
    env = oauth_ops.env
    _, _, install_id = install(oauth_ops)
    with EventReceiver() as receiver:
        bind(oauth_ops, install_id, receiver.url, "ONEXTERNALCALLBACKSTART")
        body = {"phone": "+494951234567", "text": "Hello", "voice": "ruinternalfemale"}
        answer = op(env, "POST", f"{PATH}/callback", body, 201)
        [form] = receiver.wait(1)
    assert answer["call_id"] is None
    event = dict(form)
    assert event["event"] == "ONEXTERNALCALLBACKSTART"
    assert event["data[TEXT]"] == "Hello" and event["data[VOICE]"] == "ruinternalfemale"
    assert event["data[PHONE_NUMBER]"] == "+494951234567" and event["data[LINE_NUMBER]"] == ""


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        ("click", {"phone": "1"}, "user should be a user id"),
        ("click", {"user": "1", "phone": "1"}, "user should be a user id"),
        ("click", {"user": 1}, "phone should be a string"),
        ("click", {"user": 1, "phone": ["1"]}, "phone should be a string"),
        (
            "click",
            {"user": 1, "phone": "1", "crm": "DEAL:1"},
            "crm should be CONTACT:<id>, COMPANY:<id> or LEAD:<id>",
        ),
        (
            "click",
            {"user": 1, "phone": "1", "crm": "CONTACT:999"},
            "the CRM of test.bitrix24.com has no CONTACT:999",
        ),
        ("click", {"user": 99, "phone": "1"}, "User is not found or is not active"),
        ("click", {"user": 1, "phone": "abc"}, "Unsupported phone number format"),
        (
            "click",
            {"user": 1, "phone": "1", "app": "local.nope"},
            "app local.nope is not installed on test.bitrix24.com",
        ),
        (
            "click",
            {"user": 1, "phone": "1", "line": "404"},
            "no installed app has the external line 404",
        ),
        (
            "click",
            {"user": 1, "phone": "1", "call_list": -1},
            "call_list should be a non-negative integer",
        ),
        ("callback", {"phone": "x"}, "'x' is not a phone number"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_stored(oauth_ops, path, body, text):
    env = oauth_ops.env
    install(oauth_ops)
    response = env.client.post(f"{PATH}/{path}", json=body, headers=AUTH)
    assert error_of(response) == (400, "invalid_request", text)
    store = env.app.store
    assert store is not None
    row = env.run(store.driver.fetch_one, "SELECT COUNT(*) FROM calls")
    assert row[0] == 0


def test_click_without_a_chosen_app_needs_exactly_one(oauth_ops):
    env = oauth_ops.env
    response = env.client.post(f"{PATH}/click", json={"user": 1, "phone": "1"}, headers=AUTH)
    assert (
        error_of(response)[2]
        == "choose the app of the outgoing line (installed on test.bitrix24.com: none)"
    )
    install(oauth_ops)
    assert op(env, "POST", f"{PATH}/click", {"user": 1, "phone": "1"}, 201)["call_id"]
    install(oauth_ops, "Other")
    response = env.client.post(f"{PATH}/click", json={"user": 1, "phone": "1"}, headers=AUTH)
    assert error_of(response)[2].startswith("choose the app of the outgoing line")
