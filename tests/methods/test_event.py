"""event.bind, event.unbind, event.get and events over the wire: the pages' results and
errors, the administrator rules, webhooks refused, a bad-input table, and a bound
handler that receives a call event."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import OAuth, error
from tests.services.conftest import calls_of, new_call
from trunkline.testing.handler import EventReceiver

HANDLER = "http://127.0.0.1:9/handler"


def admin_token(oauth: OAuth, **kwargs: Any) -> str:
    _, auth = oauth.app_tokens(**kwargs)
    return str(auth["access_token"])


def user_token(oauth: OAuth) -> tuple[str, int, str]:
    """A token of user bob (no administrator), bob's id, and the administrator's token
    on the same install (signed in)."""
    bob = oauth.env.user("bob")
    client_id, auth = oauth.app_tokens(user_id=bob)
    oauth.set_password()
    admin = oauth.exchange(client_id, oauth.code(client_id)).json()["access_token"]
    return str(auth["access_token"]), bob, admin


def stored(oauth: OAuth) -> int:
    assert oauth.env.app.store is not None
    row = oauth.env.run(oauth.env.app.store.driver.fetch_one, "SELECT COUNT(*) FROM event_bindings")
    return int(row[0])


def test_bind_get_unbind(oauth: OAuth) -> None:
    token = admin_token(oauth)
    assert oauth.ok("event.bind", token, {"event": "OnVoximplantCallEnd", "handler": HANDLER})
    assert oauth.ok(
        "event.bind", token, {"EVENT": "onvoximplantcallend", "HANDLER": HANDLER, "AUTH_TYPE": 1}
    )
    assert oauth.ok("event.get", token) == [
        {"event": "ONVOXIMPLANTCALLEND", "handler": HANDLER, "auth_type": "0", "offline": 0},
        {"event": "ONVOXIMPLANTCALLEND", "handler": HANDLER, "auth_type": "1", "offline": 0},
    ]
    # auth_type=0 removes only the handler bound without a user.
    payload = {"event": "OnVoximplantCallEnd", "handler": HANDLER, "auth_type": 0}
    assert oauth.ok("event.unbind", token, payload) == {"count": 1}
    assert [b["auth_type"] for b in oauth.ok("event.get", token)] == ["1"]
    payload = {"event": "OnVoximplantCallEnd", "handler": HANDLER}
    assert oauth.ok("event.unbind", token, payload) == {"count": 1}
    assert oauth.ok("event.get", token) == []


def test_a_bound_handler_receives_the_event(oauth: OAuth) -> None:
    token = admin_token(oauth)
    with EventReceiver() as receiver:
        payload = {"event": "OnVoximplantCallInit", "handler": receiver.url}
        assert oauth.ok("event.bind", token, payload) is True
        call = new_call(oauth.env)
        oauth.env.run(calls_of(oauth.env).register, oauth.env.portal, call)
        [form] = receiver.wait(1)
    body = dict(form)
    assert (body["event"], body["data[CALL_ID]"]) == ("ONVOXIMPLANTCALLINIT", call.call_id)
    assert oauth.ok("profile", body["auth[access_token]"])["ID"] == "1"


def test_bind_errors(oauth: OAuth) -> None:
    token = admin_token(oauth)
    call = oauth.call
    error(
        call("event.bind", token, {"event": "OnNothing", "handler": HANDLER}),
        400,
        "ERROR_EVENT_NOT_FOUND",
        "Event not found",
    )
    # A CRM event is not offered to an app with only the telephony scope.
    error(
        call("event.bind", token, {"event": "OnCrmLeadAdd", "handler": HANDLER}),
        400,
        "ERROR_EVENT_NOT_FOUND",
        "Event not found",
    )
    error(
        call("event.bind", token, {"event": "OnAppTest", "handler": "not a url"}),
        400,
        "ERROR_WRONG_HANDLER_URL",
        "Wrong handler URL",
    )
    error(
        call("event.bind", token, {"event": "OnAppTest", "handler": "ftp://example.com/h"}),
        400,
        "ERROR_UNSUPPORTED_PROTOCOL",
        "Unsupported event handler protocol",
    )
    assert oauth.ok("event.bind", token, {"event": "OnAppTest", "handler": HANDLER})
    error(
        call("event.bind", token, {"event": "ONAPPTEST", "handler": HANDLER}),
        400,
        "ERROR_CORE",
        "Unable to set event handler: Handler already binded",
    )
    error(
        call("event.unbind", token, {"event": "OnAppTest", "handler": HANDLER + "x"}),
        404,
        "ERROR_NOT_FOUND",
        "Handler not found",
    )
    assert stored(oauth) == 1


def test_crm_events_are_offered_to_crm_apps(oauth: OAuth) -> None:
    token = admin_token(oauth, scopes=["telephony", "crm"])
    assert oauth.ok("event.bind", token, {"event": "OnCrmLeadAdd", "handler": HANDLER})


def test_administrator_rules(oauth: OAuth) -> None:
    token, bob, admin = user_token(oauth)
    offline = {"event": "OnAppTest", "event_type": "offline"}
    error(
        oauth.call("event.bind", token, offline),
        403,
        "ACCESS_DENIED",
        "Access denied! Offline events binding requires administrator access rights",
    )
    error(
        oauth.call("event.bind", token, {"event": "OnAppTest", "handler": HANDLER, "auth_type": 1}),
        403,
        "ACCESS_DENIED",
        "Access denied! Event binding with AUTH_TYPE requires administrator access rights",
    )
    error(
        oauth.call("event.unbind", token, offline),
        403,
        "ACCESS_DENIED",
        "Access denied! Offline events unbinding requires administrator access rights",
    )
    payload = {"event": "OnAppTest", "handler": HANDLER, "auth_type": 1}
    error(
        oauth.call("event.unbind", token, payload),
        403,
        "ACCESS_DENIED",
        "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights",
    )
    # A user binds on their own behalf.
    assert oauth.ok("event.bind", token, {"event": "OnAppTest", "handler": HANDLER})
    [binding] = oauth.ok("event.get", token)
    assert binding["auth_type"] == str(bob)
    # ... and sees and unbinds only what they bound; the administrator sees all.
    assert oauth.ok("event.bind", admin, {"event": "OnAppTest", "handler": HANDLER + "2"})
    assert [b["handler"] for b in oauth.ok("event.get", token)] == [HANDLER]
    assert len(oauth.ok("event.get", admin)) == 2
    payload = {"event": "OnAppTest", "handler": HANDLER + "2"}
    error(oauth.call("event.unbind", token, payload), 404, "ERROR_NOT_FOUND", "Handler not found")
    assert oauth.ok("event.unbind", admin, payload) == {"count": 1}


def test_an_administrator_binds_offline_events(oauth: OAuth) -> None:
    token = admin_token(oauth)
    payload = {"event": "OnAppTest", "event_type": "OFFLINE", "handler": HANDLER}
    assert oauth.ok("event.bind", token, payload)
    assert oauth.ok("event.get", token) == [
        {"event": "ONAPPTEST", "handler": "", "auth_type": "0", "offline": 1}
    ]
    assert oauth.ok("event.unbind", token, {"event": "OnAppTest", "event_type": "offline"}) == {
        "count": 1
    }


def test_webhooks_cannot_bind(oauth: OAuth) -> None:
    env = oauth.env
    for method in ("event.bind", "event.unbind", "event.get"):
        answer = env.call(method, {"event": "OnAppTest", "handler": HANDLER})
        error(
            answer, 403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"
        )
    assert stored(oauth) == 0


def test_events_lists_what_the_portal_offers(oauth: OAuth) -> None:
    token = admin_token(oauth)
    offered = oauth.ok("events", token)
    assert offered[:7] == [
        "ONAPPUNINSTALL",
        "ONAPPINSTALL",
        "ONAPPUPDATE",
        "ONAPPPAYMENT",
        "ONAPPTEST",
        "ONAPPMETHODCONFIRM",
        "ONOFFLINEEVENT",
    ]
    assert "ONEXTERNALCALLSTART" in offered and "ONCRMLEADADD" not in offered
    assert oauth.ok("events", token, {"SCOPE": "telephony"}) == [
        "ONEXTERNALCALLSTART",
        "ONEXTERNALCALLBACKSTART",
        "ONVOXIMPLANTCALLINIT",
        "ONVOXIMPLANTCALLSTART",
        "ONVOXIMPLANTCALLEND",
        "ONTRUNKLINELINESTATE",  # Trunkline's own
    ]
    full = oauth.ok("events", token, {"FULL": True})
    assert "ONCRMLEADADD" in full and "ONTASKADD" in full
    # A webhook may ask too.
    assert "ONVOXIMPLANTCALLEND" in oauth.env.ok("events")["result"]


BAD_INPUT = [
    ("event.bind", {"handler": HANDLER}, "ERROR_ARGUMENT", "Argument 'EVENT' is null or empty"),
    ("event.bind", {"event": "OnAppTest"}, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty"),
    (
        "event.bind",
        {"event": ["OnAppTest"], "handler": HANDLER},
        "ERROR_ARGUMENT",
        "Parameter EVENT must be a string",
    ),
    (
        "event.bind",
        {"event": "OnAppTest", "handler": {"a": 1}},
        "ERROR_ARGUMENT",
        "Parameter HANDLER must be a string",
    ),
    (
        "event.bind",
        {"event": "OnAppTest", "handler": HANDLER, "auth_type": [1]},
        "ERROR_ARGUMENT",
        "Parameter AUTH_TYPE must be an integer",
    ),
    (
        "event.bind",
        {"event": "OnAppTest", "handler": HANDLER, "event_type": "sometimes"},
        "ERROR_ARGUMENT",
        "Argument 'EVENT_TYPE' must be online or offline",
    ),
    (
        "event.bind",
        {"event": "OnAppTest", "handler": HANDLER, "options": "fast"},
        "ERROR_ARGUMENT",
        "Parameter OPTIONS must be an object",
    ),
    ("event.bind", {"event": "OnAppTest", "handler": "http://"}, "ERROR_WRONG_HANDLER_URL", None),
    (
        "event.bind",
        {"event": "OnAppTest", "handler": "http://[::1"},
        "ERROR_WRONG_HANDLER_URL",
        None,
    ),
    ("event.bind", {"event": "", "handler": HANDLER}, "ERROR_ARGUMENT", None),
    ("event.unbind", {"handler": HANDLER}, "ERROR_ARGUMENT", "Argument 'EVENT' is null or empty"),
    (
        "event.unbind",
        {"event": "OnAppTest"},
        "ERROR_ARGUMENT",
        "Argument 'HANDLER' is null or empty",
    ),
    ("event.unbind", {"event": {"x": 1}, "handler": HANDLER}, "ERROR_ARGUMENT", None),
]


@pytest.mark.parametrize(("method", "payload", "code", "description"), BAD_INPUT)
def test_bad_input(
    oauth: OAuth, method: str, payload: dict[str, Any], code: str, description: str | None
) -> None:
    token = admin_token(oauth)
    answer = oauth.call(method, token, payload)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description, body
    assert stored(oauth) == 0
