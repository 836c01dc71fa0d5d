"""voximplant.statistic.get through the wire, on every backend: every documented field,
the FILTER operators, SORT/ORDER, pages of 50, who sees what, and bad input."""

from __future__ import annotations

import re
from decimal import Decimal

import orjson
import pytest

from tests.conftest import other_node
from tests.services.conftest import calls_of, new_call
from trunkline.domain.calls import CallEnd, CallType, CrmRef, CrmType
from trunkline.domain.statistics import StatQuery
from trunkline.methods.statistic import listed_page, record_item
from trunkline.rest.responses import encode_json

FIELDS = [
    "ID",
    "PORTAL_USER_ID",
    "PORTAL_NUMBER",
    "PHONE_NUMBER",
    "CALL_ID",
    "EXTERNAL_CALL_ID",
    "CALL_CATEGORY",
    "CALL_LOG",
    "CALL_DURATION",
    "CALL_START_DATE",
    "CALL_RECORD_URL",
    "CALL_VOTE",
    "COST",
    "COST_CURRENCY",
    "CALL_FAILED_CODE",
    "CALL_FAILED_REASON",
    "CRM_ENTITY_TYPE",
    "CRM_ENTITY_ID",
    "CRM_ACTIVITY_ID",
    "REST_APP_ID",
    "REST_APP_NAME",
    "TRANSCRIPT_ID",
    "TRANSCRIPT_PENDING",
    "SESSION_ID",
    "REDIAL_ATTEMPT",
    "COMMENT",
    "RECORD_DURATION",
    "RECORD_FILE_ID",
    "CALL_TYPE",
]
START = 1_773_130_000  # 2026-03-10T08:06:40Z


def ended(env, *, duration=0, user_id=1, started_at=None, end=None, **fields):
    calls = calls_of(env)
    new = new_call(env, user_id=user_id, **fields)
    if started_at is not None:
        new.started_at = started_at
    call = env.run(calls.register, env.portal, new)
    end = end or CallEnd(user_id=user_id, duration=duration)
    return env.run(calls.finish, env.portal, call, end)


def get(env, body=None, **kwargs):
    return env.ok("voximplant.statistic.get", body or {}, **kwargs)


def ids(body):
    return [int(row["ID"]) for row in body["result"]]


def test_row_has_every_documented_field_as_strings(env):
    record = ended(
        env,
        duration=95,
        started_at=START,
        phone="19061234568",
        portal_number="3",
        call_type=CallType.INCOMING,
        rest_app_id=3,
        rest_app_name="REST API Documentation",
        crm=CrmRef(CrmType.CONTACT, 797),
        external_call_id="pbx-9",
        end=CallEnd(user_id=1, duration=95, cost=Decimal("1.5"), cost_currency="EUR", vote=5),
    )
    body = get(env)
    (row,) = body["result"]
    assert list(row) == FIELDS
    assert body["total"] == 1 and "next" not in body
    assert row["ID"] == str(record.id)
    assert row["PORTAL_USER_ID"] == "1"
    assert (row["PORTAL_NUMBER"], row["PHONE_NUMBER"]) == ("3", "19061234568")
    assert row["CALL_ID"] == record.call_id and row["EXTERNAL_CALL_ID"] == "pbx-9"
    assert row["CALL_CATEGORY"] == "external" and row["CALL_LOG"] is None
    assert row["CALL_DURATION"] == "95"
    assert row["CALL_START_DATE"] == "2026-03-10T08:06:40+00:00"
    assert row["CALL_VOTE"] == "5"
    assert (row["COST"], row["COST_CURRENCY"]) == ("1.5000", "EUR")
    assert (row["CALL_FAILED_CODE"], row["CALL_FAILED_REASON"]) == ("200", "")
    assert (row["CRM_ENTITY_TYPE"], row["CRM_ENTITY_ID"]) == ("CONTACT", "797")
    assert (row["REST_APP_ID"], row["REST_APP_NAME"]) == ("3", "REST API Documentation")
    assert row["TRANSCRIPT_ID"] is None and row["TRANSCRIPT_PENDING"] == "N"
    assert row["RECORD_FILE_ID"] is None
    assert row["CALL_TYPE"] == "2"


def test_no_calls_is_an_empty_list_with_total_zero(env):
    body = get(env)
    assert body["result"] == [] and body["total"] == 0 and "next" not in body


def test_pages_of_fifty_with_next(env):
    made = [ended(env, phone=f"7978{n:07d}") for n in range(120)]
    first = get(env)
    assert len(first["result"]) == 50 and first["total"] == 120 and first["next"] == 50
    third = get(env, {"start": 100})
    assert ids(third) == [r.id for r in made[100:]] and "next" not in third
    assert get(env, {"start": 500})["result"] == []
    uncounted = get(env, {"start": -1})
    assert len(uncounted["result"]) == 50 and uncounted["total"] == 0 and "next" not in uncounted


def test_filter_operators(env):
    a = ended(env, duration=0, phone="11111", started_at=START)
    b = ended(env, duration=30, phone="22222", started_at=START + 3600)
    c = ended(
        env,
        duration=60,
        phone="33322",
        started_at=START + 7200,
        call_type=CallType.INCOMING,
        end=CallEnd(user_id=1, duration=60, status_code="486", cost=Decimal(2)),
    )

    def match(filter_):
        return ids(get(env, {"FILTER": filter_}))

    assert match({"ID": [a.id, c.id]}) == [a.id, c.id]
    assert match({"=ID": b.id}) == [b.id]
    assert match({"!ID": b.id}) == [a.id, c.id]
    assert match({"!=CALL_FAILED_CODE": "304"}) == [b.id, c.id]
    assert match({">CALL_DURATION": 0}) == [b.id, c.id]
    assert match({">=CALL_DURATION": 30, "<CALL_DURATION": 60}) == [b.id]
    assert match({"<=CALL_DURATION": 30}) == [a.id, b.id]
    assert match({"><CALL_DURATION": [10, 60]}) == [b.id, c.id]
    assert match({"!><CALL_DURATION": [10, 60]}) == [a.id]
    assert match({"%PHONE_NUMBER": "222"}) == [b.id]
    assert match({"!%PHONE_NUMBER": "22"}) == [a.id]
    assert match({"?PHONE_NUMBER": "333*"}) == [c.id]
    assert match({"CALL_TYPE": 2}) == [c.id]
    assert match({">COST": "1.5"}) == [c.id]
    assert match({">=CALL_START_DATE": "2026-03-10T09:06:40+00:00"}) == [b.id, c.id]
    assert match({"<CALL_START_DATE": "2026-03-10T10:06:41+01:00"}) == [a.id, b.id]
    assert match({"CALL_START_DATE": "not a date"}) == []
    assert match({"call_failed_code": "486"}) == [c.id]  # keys are case-insensitive


def test_filter_drops_unknown_fields_and_operators(env):
    a = ended(env)
    b = ended(env)
    everyone = [a.id, b.id]
    assert ids(get(env, {"FILTER": {"NOPE": 1}})) == everyone
    assert ids(get(env, {"FILTER": {"@ID": [a.id]}})) == everyone  # @ is not an operator here
    assert ids(get(env, {"FILTER": {"ID": []}})) == everyone  # an empty list is dropped
    assert ids(get(env, {"FILTER": {"><ID": [a.id]}})) == everyone  # one bound is dropped
    assert ids(get(env, {"FILTER": "ID=1"})) == everyone


def test_sort_and_order(env):
    a = ended(env, duration=5)
    b = ended(env, duration=9)
    c = ended(env, duration=7)

    def order(sort, direction):
        return ids(get(env, {"SORT": sort, "ORDER": direction}))

    assert order("CALL_DURATION", "DESC") == [b.id, c.id, a.id]
    assert order(" CALL_DURATION ", "ASC") == [a.id, c.id, b.id]
    assert order("ID", "DESC") == [c.id, b.id, a.id]
    assert order("CALL_DURATION", "desc") == [a.id, b.id, c.id]  # ORDER is exact
    assert order("call_duration", "DESC") == [a.id, b.id, c.id]  # SORT is exact
    assert order("CALL_TYPE", "DESC") == [a.id, b.id, c.id]  # CALL_TYPE does not sort
    assert ids(get(env, {"SORT": "CALL_DURATION"})) == [a.id, b.id, c.id]
    assert order(["CALL_DURATION"], "DESC") == [a.id, b.id, c.id]


def test_a_user_sees_only_own_calls_an_admin_everyones(env):
    env.user("bob", user_id=2)
    mine = ended(env, user_id=1)
    bobs = ended(env, user_id=2)
    bob = env.webhook(2)
    assert ids(get(env, hook=bob)) == [bobs.id]
    assert ids(get(env)) == [mine.id, bobs.id]
    assert ids(get(env, {"FILTER": {"PORTAL_USER_ID": 1}}, hook=bob)) == []


def test_another_portal_calls_are_invisible(env):
    ended(env)
    other = env.run(env.accounts.create_portal, "other.bitrix24.com")
    env.run(env.accounts.create_user, other, "admin", is_admin=True, user_id=1)
    created = env.run(env.accounts.create_webhook, other, 1, ["telephony"])
    body = env.ok(
        "voximplant.statistic.get",
        {},
        hook=f"/rest/1/{created.code}/",
        headers={"host": "other.bitrix24.com"},
    )
    assert body["result"] == [] and body["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"FILTER": {"ID": {"a": {"b": 1}}}},
        {"FILTER": {"'; DROP TABLE call_statistics; --": 1}},
        {"FILTER": {"PHONE_NUMBER": "'; DROP TABLE call_statistics; --"}},
        {"FILTER": {"ID": "1; DELETE FROM calls"}},
        {"FILTER": {">=CALL_START_DATE": ["x", None]}},
        {"FILTER": {"%PHONE_NUMBER": "a\x00b"}},
        {"FILTER": {"CALL_DURATION": 10**30}},
        {"FILTER": {"COST": "9" * 5000}},
        {"FILTER": {"ID": list(range(2000))}},
        {"SORT": {"a": 1}, "ORDER": ["DESC"]},
        {"FILTER": [1, 2, 3]},
        {"start": "abc"},
    ],
)
def test_bad_input_never_fails(env, body):
    record = ended(env)
    response = env.call("voximplant.statistic.get", body)
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["result"], list)
    assert env.run(calls_of(env).record, env.portal.id, record.call_id) == record


def test_start_date_follows_the_portal_zone(env):
    ended(env, started_at=START)
    portal = env.portal
    assert portal.timezone == "UTC"
    row = get(env)["result"][0]
    assert re.fullmatch(r"2026-03-10T08:06:40\+00:00", row["CALL_START_DATE"])


def test_a_filter_too_large_for_the_database_is_refused(env):
    response = env.call("voximplant.statistic.get", {"FILTER": {"ID": list(range(10_001))}})
    assert response.status_code == 400
    assert response.json() == {
        "error": "ERROR_ARGUMENT",
        "error_description": "FILTER holds more than 10000 values",
        "argument": "FILTER",
    }


def test_a_kept_page_never_outlives_a_write(env):
    """Pages are kept while no data changed (storage/calls.py): a call ended here, or by
    another node on the same database (its own connection), shows on the next read."""
    first = ended(env, phone="79781111111")
    assert ids(get(env)) == [first.id]
    assert ids(get(env)) == [first.id]  # kept
    second = ended(env, phone="79782222222")
    assert ids(get(env)) == [first.id, second.id]
    with other_node(env) as other:
        third = ended(other, phone="79783333333")
    body = get(env)
    assert ids(body) == [first.id, second.id, third.id] and body["total"] == 3


def test_a_kept_page_is_listed_once_and_encodes_as_its_rows(env):
    """An unchanged page is the same page object (storage/calls.py), so its items are
    listed and encoded once (methods/statistic.py ``listed_page``): the same list for the
    same page and zone, another for another zone or page, and its JSON is the rows'."""
    ended(env, phone="79781111111", started_at=START)
    ended(env, phone="79782222222", started_at=START + 60)
    first = get(env)
    again = get(env)  # answered from the kept page
    assert (again["result"], again["total"]) == (first["result"], first["total"]) and again[
        "result"
    ]
    query = StatQuery(
        portal_id=env.portal.id,
        users=None,
        conditions=[],
        sort=None,
        descending=False,
        offset=0,
        limit=50,
        count=True,
    )
    total, page = env.run(calls_of(env).statistics, query)
    assert total == 2 and env.run(calls_of(env).statistics, query)[1] is page
    kept = listed_page(page, "UTC")
    assert listed_page(page, "UTC") is kept
    moscow = listed_page(page, "Europe/Moscow")
    assert moscow is not kept and moscow[0]["CALL_START_DATE"].endswith("+03:00")
    assert listed_page(tuple(page), "UTC") is not kept  # another page object
    assert orjson.loads(encode_json(kept)) == [record_item(r, "UTC") for r in page]
    assert orjson.loads(encode_json(kept)) == first["result"]
    ended(env, phone="79783333333")
    assert env.run(calls_of(env).statistics, query)[1] is not page  # a write: a new page
    assert len(get(env)["result"]) == 3
