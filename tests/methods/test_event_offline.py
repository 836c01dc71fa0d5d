"""event.offline.get, .list, .clear and .error: clear=0 then 1, the process_id round trip,
error marking, filter/order/limit, pages, the latest state kept once, ONOFFLINEEVENT,
administrators only, and a bad-input table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import OAuth, error
from trunkline.testing.handler import EventReceiver


def setup(oauth: OAuth, *events: str) -> str:
    """An admin token of an app with offline handlers of ``events`` (ONAPPTEST by default)."""
    _, auth = oauth.app_tokens()
    token = str(auth["access_token"])
    for event in events or ("OnAppTest",):
        assert oauth.ok("event.bind", token, {"event": event, "event_type": "offline"})
    return token


def fire(oauth: OAuth, event: str = "OnAppTest", **data: Any) -> None:
    services = oauth.env.app.services
    assert services is not None
    oauth.env.run(services.events.fire, oauth.env.portal.id, event, data, user_id=1)


def names(records: list[dict[str, Any]]) -> list[Any]:
    return [r["EVENT_DATA"]["N"] for r in records]


def test_get_with_clear_0_then_1(oauth: OAuth) -> None:
    token = setup(oauth)
    fire(oauth, N=1)
    fire(oauth, N=2)
    reserved = oauth.ok("event.offline.get", token, {"clear": 0})
    process_id = reserved["process_id"]
    assert isinstance(process_id, str) and len(process_id) == 32
    [first, second] = reserved["events"]
    assert set(first) == {
        "ID",
        "TIMESTAMP_X",
        "EVENT_NAME",
        "EVENT_DATA",
        "EVENT_ADDITIONAL",
        "MESSAGE_ID",
    }
    assert (first["EVENT_NAME"], first["EVENT_DATA"]) == ("ONAPPTEST", {"N": 1})
    assert first["TIMESTAMP_X"].endswith("+00:00") and second["EVENT_DATA"] == {"N": 2}
    # Reserved: hidden from the next taker, listed with their process id.
    assert oauth.ok("event.offline.get", token) == {"process_id": None, "events": []}
    listed = oauth.ok("event.offline.list", token)
    assert [r["PROCESS_ID"] for r in listed] == [process_id, process_id]
    # The process id round trip: the same records again, then cleared with clear=1.
    again = oauth.ok("event.offline.get", token, {"process_id": process_id, "clear": 1})
    assert again["process_id"] is None and names(again["events"]) == [1, 2]
    assert oauth.ok("event.offline.list", token) == []


def test_clear_deletes_a_reservation(oauth: OAuth) -> None:
    token = setup(oauth)
    for n in range(3):
        fire(oauth, N=n)
    reserved = oauth.ok("event.offline.get", token, {"clear": "0"})
    process_id = reserved["process_id"]
    first = reserved["events"][0]
    payload = {"process_id": process_id, "message_id": [first["MESSAGE_ID"]]}
    assert oauth.ok("event.offline.clear", token, payload) is True
    assert [r["ID"] for r in oauth.ok("event.offline.list", token)] == [
        r["ID"] for r in reserved["events"][1:]
    ]
    payload = {"process_id": process_id, "id": [reserved["events"][1]["ID"]]}
    assert oauth.ok("event.offline.clear", token, payload) is True
    assert oauth.ok("event.offline.clear", token, {"process_id": process_id}) is True
    assert oauth.ok("event.offline.list", token) == []


def test_error_marks_and_releases(oauth: OAuth) -> None:
    token = setup(oauth)
    fire(oauth, N=1)
    fire(oauth, N=2)
    reserved = oauth.ok("event.offline.get", token, {"clear": 0})
    bad = reserved["events"][0]["MESSAGE_ID"]
    payload = {"process_id": reserved["process_id"], "message_id": [bad]}
    assert oauth.ok("event.offline.error", token, payload) is True
    listed = {
        r["MESSAGE_ID"]: (r["ERROR"], r["PROCESS_ID"])
        for r in oauth.ok("event.offline.list", token)
    }
    assert listed[bad] == ("1", "")
    # Erroneous records come back only to a taker that asks for them.
    assert oauth.ok("event.offline.get", token)["events"] == []
    taken = oauth.ok("event.offline.get", token, {"error": 1})["events"]
    assert [r["MESSAGE_ID"] for r in taken] == [bad]


def test_the_queue_keeps_the_latest_state_once(oauth: OAuth) -> None:
    token = setup(oauth)
    fire(oauth, N=7)
    oauth.clock.advance(60)
    fire(oauth, N=7)
    [record] = oauth.ok("event.offline.list", token)
    assert record["EVENT_DATA"] == {"N": 7}
    assert record["TIMESTAMP_X"] == oauth.ok("server.time", token)[:19] + "+00:00"


def test_filter_order_limit_and_pages(oauth: OAuth) -> None:
    token = setup(oauth, "OnAppTest", "OnAppUpdate")
    for n in range(5):
        fire(oauth, N=n)
    fire(oauth, "OnAppUpdate", N=99)
    ids = [int(r["ID"]) for r in oauth.ok("event.offline.list", token)]
    payload = {
        "filter": {">ID": ids[1], "EVENT_NAME": "ONAPPTEST"},
        "order": {"ID": "DESC"},
        "limit": 2,
        "clear": 0,
    }
    taken = oauth.ok("event.offline.get", token, payload)["events"]
    assert names(taken) == [4, 3]
    listed = oauth.ok("event.offline.list", token, {"filter": {"!PROCESS_ID": ""}})
    assert sorted(names(listed)) == [3, 4]
    listed = oauth.ok(
        "event.offline.list", token, {"filter": {"ERROR": "0", "=EVENT_NAME": "ONAPPUPDATE"}}
    )
    assert names(listed) == [99]
    for n in range(5, 55):
        fire(oauth, N=n)
    page = oauth.call("event.offline.list", token).json()
    assert (len(page["result"]), page["total"], page["next"]) == (50, 56, 50)
    last = oauth.call("event.offline.list", token, {"start": 50}).json()
    assert (len(last["result"]), last["total"]) == (6, 56) and "next" not in last


def test_each_app_reads_its_own_queue(oauth: OAuth) -> None:
    mine = setup(oauth)
    theirs = setup(oauth)
    fire(oauth, N=1)
    assert names(oauth.ok("event.offline.get", mine)["events"]) == [1]
    assert names(oauth.ok("event.offline.get", theirs)["events"]) == [1]
    assert oauth.ok("event.offline.list", mine) == []


def test_onofflineevent_tells_a_handler_that_the_queue_grew(oauth: OAuth) -> None:
    token = setup(oauth)
    with EventReceiver() as receiver:
        assert oauth.ok("event.bind", token, {"event": "OnOfflineEvent", "handler": receiver.url})
        fire(oauth, N=1)
        [form] = receiver.wait(1)
    body = dict(form)
    assert body["event"] == "ONOFFLINEEVENT" and not any(k.startswith("data[") for k in body)
    assert body["auth[refresh_token]"] and oauth.ok("profile", body["auth[access_token]"])


def test_administrators_only(oauth: OAuth) -> None:
    bob = oauth.env.user("bob")
    _, auth = oauth.app_tokens(user_id=bob)
    token = str(auth["access_token"])
    for method, payload in (
        ("event.offline.get", {}),
        ("event.offline.list", {}),
        ("event.offline.clear", {"process_id": "x"}),
        ("event.offline.error", {"process_id": "x", "message_id": ["y"]}),
    ):
        error(oauth.call(method, token, payload), 403, "ACCESS_DENIED", "Access denied!")
        answer = oauth.env.call(method, payload)  # a webhook
        error(
            answer, 403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"
        )


BAD_INPUT = [
    ("event.offline.get", {"filter": "ID>1"}, "Parameter FILTER must be an object"),
    ("event.offline.get", {"filter": {"PROCESS_ID": "x"}}, "Unknown filter field PROCESS_ID"),
    ("event.offline.get", {"filter": {"NOPE": 1}}, "Unknown filter field NOPE"),
    ("event.offline.get", {"filter": {">ID": [1, 2]}}, "Filter field ID must be a single value"),
    (
        "event.offline.get",
        {"filter": {"TIMESTAMP_X": "yesterday"}},
        "Filter field TIMESTAMP_X must be a date",
    ),
    ("event.offline.get", {"order": ["ID"]}, "Parameter ORDER must be an object"),
    ("event.offline.get", {"order": {"HANDLER": "ASC"}}, "Unknown order field HANDLER"),
    ("event.offline.get", {"process_id": ["a"]}, "Parameter PROCESS_ID must be a string"),
    ("event.offline.list", {"filter": {"HANDLER": "x"}}, "Unknown filter field HANDLER"),
    ("event.offline.clear", {}, "Argument 'PROCESS_ID' is null or empty"),
    (
        "event.offline.clear",
        {"process_id": "p", "message_id": [[1]]},
        "Parameter MESSAGE_ID must be a list of values",
    ),
    ("event.offline.error", {"message_id": ["m"]}, "Argument 'PROCESS_ID' is null or empty"),
]


@pytest.mark.parametrize(("method", "payload", "description"), BAD_INPUT)
def test_bad_input(oauth: OAuth, method: str, payload: dict[str, Any], description: str) -> None:
    token = setup(oauth)
    fire(oauth, N=1)
    answer = oauth.call(method, token, payload)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["error"], body["error_description"]) == ("ERROR_ARGUMENT", description)
    # Nothing taken or changed.
    [record] = oauth.ok("event.offline.list", token)
    assert (record["PROCESS_ID"], record["ERROR"]) == ("", "0")
