"""The call simulator through the operator API, on every backend: a whole call on a cloud
line in one test on a virtual clock, missed and outgoing calls, outcomes queued for
built-in calls, and a bad-input table (400, nothing stored)."""

from __future__ import annotations

import time

import pytest

from tests.services.conftest import Recorder, calls_of
from tests.web.conftest import AUTH, error_of, op

CLOUD = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "u1", "PASSWORD": "p1"}


@pytest.fixture
def recorder(request):
    """A Recorder on the calls of whichever app fixture the test uses."""
    env = request.getfixturevalue("ops" if "ops" in request.fixturenames else "ops_any")
    recording = Recorder()
    calls_of(env).events = recording
    return recording


def stats(env):
    return env.ok("voximplant.statistic.get")["result"]


def test_incoming_call_answered_after_3s_lasting_60s(ops_any, recorder):
    """The issue's must-show: three events in order with their documented fields, the
    statistics row with CALL_DURATION 60, and no waiting (the clock is virtual)."""
    env = ops_any
    began = time.monotonic()
    line = env.add_line(**CLOUD)
    key = f"reg{line['REG_ID']}"
    t0 = env.app.clock.now()
    body = {"line": key, "user_id": 1, "number": "+49 999 999-6666", "answer_after": 3}
    started = op(env, "POST", "/operator/calls", {**body, "duration": 60}, status=201)
    call_id = started["call_id"]
    assert started["answer_at"] - started["started_at"] == 3
    assert started["end_at"] - started["started_at"] == 63
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT"]
    assert op(env, "POST", "/operator/calls/advance", {"seconds": 2})["ran"] == 0
    assert op(env, "POST", "/operator/calls/advance", {"seconds": 1})["ran"] == 1
    assert recorder.names()[-1] == "ONVOXIMPLANTCALLSTART"
    assert op(env, "POST", "/operator/calls/advance", {"seconds": 600})["ran"] == 1
    assert op(env, "GET", "/operator/calls") == {"pending": []}
    init, start, end = recorder.raised
    assert [r.event for r in recorder.raised] == [
        "ONVOXIMPLANTCALLINIT",
        "ONVOXIMPLANTCALLSTART",
        "ONVOXIMPLANTCALLEND",
    ]
    assert init.data == {
        "CALL_ID": call_id,
        "CALL_TYPE": "2",
        "ACCOUNT_SEARCH_ID": key,
        "PHONE_NUMBER": key,
        "CALLER_ID": "+499999996666",
    }
    assert start.data == {"CALL_ID": call_id, "USER_ID": "1"}
    assert end.data["CALL_ID"] == call_id
    assert end.data["CALL_TYPE"] == "2"
    assert end.data["PHONE_NUMBER"] == "+499999996666"
    assert end.data["PORTAL_NUMBER"] == key
    assert end.data["PORTAL_USER_ID"] == "1"
    assert end.data["CALL_DURATION"] == "60"
    assert end.data["CALL_FAILED_CODE"] == "200"
    assert end.data["CALL_FAILED_REASON"] == "Successful call"
    assert set(end.data) >= {"CALL_START_DATE", "COST", "COST_CURRENCY", "CRM_ACTIVITY_ID"}
    (row,) = stats(env)
    assert row["CALL_ID"] == call_id and row["CALL_DURATION"] == "60"
    assert row["CALL_TYPE"] == "2" and row["PORTAL_NUMBER"] == key
    assert row["CALL_FAILED_CODE"] == "200"
    assert env.app.clock.now() - t0 >= 603
    assert time.monotonic() - began < 5  # the real figure is ms; the clock did the waiting


def test_missed_call_rings_then_ends_304(ops, recorder):
    office = ops.add_line()
    body = {"line": str(office["CONFIG_ID"]), "answer_after": None, "ring": 20}
    started = op(ops, "POST", "/operator/calls", body, status=201)
    assert started["answer_at"] is None and started["end_at"] - started["started_at"] == 20
    op(ops, "POST", "/operator/calls/advance", {"seconds": 20})
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLEND"]
    assert recorder.raised[0].data["ACCOUNT_SEARCH_ID"] == f"sip{office['CONFIG_ID']}"
    (row,) = stats(ops)
    assert (row["CALL_DURATION"], row["CALL_FAILED_CODE"]) == ("0", "304")
    assert row["CALL_FAILED_REASON"] == "Missed call"


def test_outgoing_call_with_status_and_cost(ops, recorder):
    office = ops.add_line()
    key = f"sip{office['CONFIG_ID']}"
    body = {
        "line": key,
        "direction": "outgoing",
        "number": "79780000001",
        "answer_after": 1,
        "duration": 95,
        "status_code": "486",
        "cost": 1.5,
        "cost_currency": "EUR",
    }
    op(ops, "POST", "/operator/calls", body, status=201)
    op(ops, "POST", "/operator/calls/advance", {"seconds": 96})
    init = recorder.raised[0].data
    assert (init["CALL_TYPE"], init["PHONE_NUMBER"], init["CALLER_ID"]) == (
        "1",
        "79780000001",
        key,
    )
    (row,) = stats(ops)
    assert (row["CALL_TYPE"], row["CALL_DURATION"], row["CALL_FAILED_CODE"]) == ("1", "95", "486")
    assert row["COST"].startswith("1.5") and row["COST_CURRENCY"] == "EUR"


def test_steps_run_when_the_clock_is_moved_elsewhere(ops, recorder):
    office = ops.add_line()
    body = {"line": f"sip{office['CONFIG_ID']}", "answer_after": 1, "duration": 5}
    op(ops, "POST", "/operator/calls", body, status=201)
    ops.app.clock.advance(10)  # not through the simulator: its task wakes up
    deadline = time.monotonic() + 5
    while len(recorder.raised) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.names()[-1] == "ONVOXIMPLANTCALLEND"
    assert stats(ops)[0]["CALL_DURATION"] == "5"


def test_queued_outcome_is_taken_by_the_next_callback(ops, recorder):
    office = ops.add_line()
    key = f"sip{office['CONFIG_ID']}"
    queued = {"answer_after": None, "ring": 5, "status_code": "603"}
    assert op(ops, "POST", "/operator/calls/outcomes", queued, status=201) == {"queued": 1}
    body = {"FROM_LINE": key, "TO_NUMBER": "+79780000001", "TEXT_TO_PRONOUNCE": "hi"}
    first = ops.ok("voximplant.callback.start", body)["result"]["CALL_ID"]
    second = ops.ok("voximplant.callback.start", body)["result"]["CALL_ID"]
    op(ops, "POST", "/operator/calls/advance", {"seconds": 60})
    rows = {row["CALL_ID"]: row for row in stats(ops)}
    assert (rows[first]["CALL_FAILED_CODE"], rows[first]["CALL_DURATION"]) == ("603", "0")
    # The second takes the default of the settings: answered after 2 s, lasting 10 s.
    assert (rows[second]["CALL_FAILED_CODE"], rows[second]["CALL_DURATION"]) == ("200", "10")
    assert rows[second]["CALL_TYPE"] == "4"


# -- bad input: 400 (or 404), nothing stored --------------------------------------------

BAD_CALLS = [
    ({"line": "reg1"}, 400, "has no line reg1"),
    ({"line": ""}, 400, "line must be a non-empty string"),
    ({"line": ["x"]}, 400, "line must be a non-empty string"),
    ({"line": "LINE", "user_id": 999}, 400, "has no user 999"),
    ({"line": "LINE", "user_id": "1"}, 400, "user_id must be an integer"),
    ({"line": "LINE", "number": "12"}, 400, "is not a phone number"),
    ({"line": "LINE", "direction": "sideways"}, 400, "direction must be"),
    ({"line": "LINE", "answer_after": -1}, 400, "answer_after must be between"),
    ({"line": "LINE", "answer_after": "3"}, 400, "answer_after must be a number"),
    ({"line": "LINE", "duration": 1e12}, 400, "duration must be between"),
    ({"line": "LINE", "status_code": "999"}, 400, "status_code must be one of"),
    ({"line": "LINE", "cost": [1]}, 400, "cost must be a number"),
    ({"line": "LINE", "colour": "red"}, 400, "unknown field 'colour'"),
    ({"line": "LINE", "portal": "nope.example"}, 404, "no portal"),
]


@pytest.mark.parametrize(("body", "status", "text"), BAD_CALLS)
def test_simulated_call_bad_input(ops, recorder, body, status, text):
    office = ops.add_line()
    if body.get("line") == "LINE":
        body = {**body, "line": f"sip{office['CONFIG_ID']}"}
    response = ops.client.post("/operator/calls", json=body, headers=AUTH)
    code, _, description = error_of(response)
    assert code == status and text in description, description
    assert recorder.raised == [] and op(ops, "GET", "/operator/calls") == {"pending": []}


@pytest.mark.parametrize(
    "body", [{}, {"seconds": -1}, {"seconds": "1"}, {"seconds": True}, {"seconds": 1e10}]
)
def test_advance_bad_input(ops, body):
    before = ops.app.clock.now()
    response = ops.client.post("/operator/calls/advance", json=body, headers=AUTH)
    assert response.status_code == 400
    assert ops.app.clock.now() - before < 1


def test_body_must_be_an_object(ops):
    response = ops.client.post("/operator/calls", content=b"[1]", headers=AUTH)
    assert error_of(response)[:2] == (400, "invalid_request")
    response = ops.client.post("/operator/calls/outcomes", json={"ring": -5}, headers=AUTH)
    assert error_of(response)[:2] == (400, "invalid_request")


def test_whole_call_events_reach_a_loopback_handler_in_order(ops):
    """The must-show through the real events outbox: an installed app bound to the three
    call events gets them at a loopback handler, in order, with the documented fields."""
    from tests.auth.conftest import Clock as HandClock
    from tests.auth.conftest import OAuth
    from tests.services.test_outbox import bind, installed_app
    from trunkline.testing.handler import EventReceiver

    began = time.monotonic()
    hand = HandClock()
    ops.app.clock.use(hand)
    _, auth, install_id = installed_app(OAuth(ops, hand))
    key = f"reg{ops.add_line(**CLOUD)['REG_ID']}"
    names = ["ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND"]
    with EventReceiver() as receiver:
        for name in names:
            bind(ops, install_id, receiver.url, name)
        body = {"line": key, "user_id": 1, "number": "+499999996666", "answer_after": 3}
        call_id = op(ops, "POST", "/operator/calls", {**body, "duration": 60}, status=201)[
            "call_id"
        ]
        receiver.wait(1)
        op(ops, "POST", "/operator/calls/advance", {"seconds": 3})
        receiver.wait(2)
        op(ops, "POST", "/operator/calls/advance", {"seconds": 60})
        forms = [dict(form) for form in receiver.wait(3)]
    assert [form["event"] for form in forms] == names
    init, start, end = forms
    assert {k: v for k, v in init.items() if k.startswith("data[")} == {
        "data[CALL_ID]": call_id,
        "data[CALL_TYPE]": "2",
        "data[ACCOUNT_SEARCH_ID]": key,
        "data[PHONE_NUMBER]": key,
        "data[CALLER_ID]": "+499999996666",
    }
    assert (start["data[CALL_ID]"], start["data[USER_ID]"]) == (call_id, "1")
    assert end["data[CALL_ID]"] == call_id and end["data[CALL_DURATION]"] == "60"
    assert end["data[PORTAL_NUMBER]"] == key and end["data[CALL_FAILED_CODE]"] == "200"
    assert int(end["ts"]) - int(init["ts"]) == 63  # the virtual clock's seconds
    assert all(form["auth[application_token]"] == auth["application_token"] for form in forms)
    (row,) = stats(ops)
    assert (row["CALL_ID"], row["CALL_DURATION"]) == (call_id, "60")
    assert time.monotonic() - began < 5  # measured: well under a second
