"""The calls core (services/calls.py) on every backend: a call's life, its record, its
events, the re-registration lookup and the statistics query."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.services.conftest import calls_of, new_call
from trunkline.domain.calls import (
    RECENT_WINDOW,
    CallEnd,
    CallType,
    CrmRef,
    CrmType,
    LineKind,
    RecentKey,
    default_status,
    to_cost,
)
from trunkline.domain.query import Condition, Op
from trunkline.domain.statistics import STAT_FIELDS, StatQuery


def register(env, new):
    return env.run(calls_of(env).register, env.portal, new)


def finish(env, call, end):
    return env.run(calls_of(env).finish, env.portal, call, end)


def test_call_id_has_the_documented_shape_and_the_clock_seconds(env):
    calls = calls_of(env)
    calls.clock.set(1_773_130_779.5)
    try:
        call_id = calls.new_call_id("externalCall", env.portal)
    finally:
        calls.clock.real()
    assert re.fullmatch(r"externalCall\.[0-9a-f]{32}\.1773130779", call_id)


def test_call_id_draws_from_the_id_source(env):
    class Fixed:
        def ordered_hex(self, nbytes, scope, now):
            assert (nbytes, scope) == (16, env.portal.domain)
            return "ab" * 16

    calls = calls_of(env)
    saved, calls.ids = calls.ids, Fixed()
    try:
        assert calls.new_call_id("callback", env.portal).startswith("callback." + "ab" * 16 + ".")
    finally:
        calls.ids = saved


def test_unseeded_call_ids_sort_by_the_clock_and_stay_unique():
    from trunkline.domain.ids import Ids

    ids, at = Ids(), 1_773_130_779.5
    made = [ids.ordered_hex(16, "p.example", at + i / 1000) for i in range(200)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", x) for x in made)
    assert made == sorted(made) and len(set(made)) == 200
    assert made[0][:12] == f"{int(at * 1000):012x}"
    same_ms = {ids.ordered_hex(16, "p.example", at) for _ in range(100)}
    assert len(same_ms) == 100  # the 80 random bits keep ids of one millisecond apart


def test_seeded_call_ids_do_not_depend_on_the_clock():
    from trunkline.domain.ids import Ids

    first, second = Ids(7), Ids(7)
    a = [first.ordered_hex(16, "p.example", 1_000.0) for _ in range(3)]
    b = [second.ordered_hex(16, "p.example", 2_000_000_000.0) for _ in range(3)]
    plain = Ids(7)
    assert a == b == [plain.token_hex(16, "p.example") for _ in range(3)]


def test_register_stores_a_live_call(env, recorder):
    new = new_call(env, crm=CrmRef(CrmType.CONTACT, 7), crm_bindings=(CrmRef(CrmType.CONTACT, 7),))
    call = register(env, new)
    assert call.id > 0 and call.portal_id == env.portal.id and not call.answered
    found = env.run(calls_of(env).live, env.portal.id, new.call_id)
    assert found == call
    assert found.crm == CrmRef(CrmType.CONTACT, 7)
    assert found.crm_bindings == (CrmRef(CrmType.CONTACT, 7),)
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT"]
    assert recorder.raised[0].data == {
        "CALL_ID": new.call_id,
        "CALL_TYPE": "1",
        "CALLER_ID": "79780000001",
        "REST_APP_ID": "",
    }


def test_register_twice_with_one_call_id_is_refused(env):
    new = new_call(env)
    assert register(env, new) is not None
    assert register(env, new) is None


def test_register_answered_raises_start_too(env, recorder):
    call = register(env, new_call(env, answered_by=1, rest_app_id=3))
    assert call.answered and call.answered_by == 1
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART"]
    assert recorder.raised[0].data["REST_APP_ID"] == "3"
    assert recorder.raised[1].data == {"CALL_ID": call.call_id, "USER_ID": "1"}


def test_register_on_a_sip_line_names_the_line_in_init(env, recorder):
    register(env, new_call(env, line_kind=LineKind.SIP, portal_number="reg150001"))
    data = recorder.raised[0].data
    assert data["ACCOUNT_SEARCH_ID"] == "reg150001" and "REST_APP_ID" not in data


def test_answer_once(env, recorder):
    call = register(env, new_call(env, call_type=CallType.INCOMING))
    calls = calls_of(env)
    assert env.run(calls.answer, env.portal, call.call_id, 1) is True
    assert env.run(calls.answer, env.portal, call.call_id, 1) is False
    assert env.run(calls.answer, env.portal, "nope", 1) is False
    assert env.run(calls.live, env.portal.id, call.call_id).answered_by == 1
    assert recorder.names() == ["ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART"]


def test_finish_writes_the_record_and_ends_the_call(env, recorder):
    call = register(env, new_call(env, rest_app_id=4, rest_app_name="App"))
    end = CallEnd(user_id=1, duration=100, cost=to_cost("100.00"), cost_currency="USD")
    record = finish(env, call, end)
    assert record.id > 0
    assert (record.failed_code, record.status, record.duration) == ("200", 1, 100)
    assert record.cost == Decimal("100.0000")
    assert env.run(calls_of(env).live, env.portal.id, call.call_id) is None
    stored = env.run(calls_of(env).record, env.portal.id, call.call_id)
    assert stored == record
    assert finish(env, call, end) is None  # ended once
    end_event = recorder.raised[-1]
    assert end_event.event == "ONVOXIMPLANTCALLEND"
    assert end_event.data["COST"] == "100" and end_event.data["CALL_DURATION"] == "100"
    assert end_event.data["CALL_FAILED_CODE"] == "200"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", end_event.data["CALL_START_DATE"]
    )


def test_status_code_default_rule():
    assert default_status(1) == "200" and default_status(0) == "304"
    assert CallEnd(user_id=1, duration=0).code == "304"
    assert CallEnd(user_id=1, duration=5, status_code="486").code == "486"
    assert CallEnd(user_id=1, status_code="x" * 300).code == "x" * 255


def test_cost_is_kept_to_four_decimals():
    assert to_cost("100.00") == to_cost(100) == Decimal("100.0000")
    assert to_cost("12.34567") == Decimal("12.3457")
    assert to_cost("junk") == to_cost(None) == to_cost("nan") == to_cost("1e99") == Decimal(0)


def test_recent_finds_the_live_call_within_the_window(env):
    calls = calls_of(env)
    now = calls.clock.now()
    call = register(env, new_call(env, line_id=5, external_call_id="pbx-1"))
    key = RecentKey(1, "79780000001", CallType.OUTGOING, None, since=now - RECENT_WINDOW)
    assert env.run(calls.recent, env.portal.id, key).call_id == call.call_id
    with_line = RecentKey(1, "79780000001", CallType.OUTGOING, None, now - 60, line_id=5)
    assert env.run(calls.recent, env.portal.id, with_line) is not None
    other_line = RecentKey(1, "79780000001", CallType.OUTGOING, None, now - 60, line_id=6)
    assert env.run(calls.recent, env.portal.id, other_line) is None
    other_id = RecentKey(1, "79780000001", CallType.OUTGOING, None, now - 60, external_call_id="x")
    assert env.run(calls.recent, env.portal.id, other_id) is None
    other_app = RecentKey(1, "79780000001", CallType.OUTGOING, 3, now - 60)
    assert env.run(calls.recent, env.portal.id, other_app) is None
    other_type = RecentKey(1, "79780000001", CallType.INCOMING, None, now - 60)
    assert env.run(calls.recent, env.portal.id, other_type) is None
    later = RecentKey(1, "79780000001", CallType.OUTGOING, None, now + 1)
    assert env.run(calls.recent, env.portal.id, later) is None
    finish(env, call, CallEnd(user_id=1))
    assert env.run(calls.recent, env.portal.id, key) is None


def test_recent_reads_the_newest_match_whole_even_if_it_ends_between_its_reads(env):
    """The re-registration check finds the newest match's id, then reads its row
    (storage/calls.py): the call a single read gives, whole; one ended between the two
    reads (by another process) is looked for again."""
    calls = calls_of(env)
    now = calls.clock.now()
    older = register(env, new_call(env, external_call_id="pbx-1"))
    newer = register(env, new_call(env, external_call_id="pbx-1"))
    env.run(calls.answer, env.portal, newer.call_id, 1)  # a changed column is read too
    key = RecentKey(1, "79780000001", CallType.OUTGOING, None, now - 60, external_call_id="pbx-1")
    live = calls.repo.live_call
    found = env.run(calls.recent, env.portal.id, key)
    assert found == env.run(live, env.portal.id, newer.call_id) and found.answered_by == 1
    driver = calls.repo.driver
    real = driver.fetch_one

    async def ending(sql, params=()):
        row = await real(sql, params)
        if sql.startswith("SELECT id FROM calls"):
            await driver.execute("DELETE FROM calls WHERE id = ?", (row[0],))
        return row

    driver.fetch_one = ending
    try:
        found = env.run(calls.recent, env.portal.id, key)
    finally:
        del driver.fetch_one
    assert found == env.run(live, env.portal.id, older.call_id)


def records(env, count, **fields):
    made = []
    for n in range(count):
        call = register(env, new_call(env, phone=f"7978{n:07d}", **fields))
        made.append(finish(env, call, CallEnd(user_id=fields.get("user_id", 1), duration=n)))
    return made


def test_statistics_pages_and_counts(env):
    made = records(env, 55)
    calls = calls_of(env)
    total, page = env.run(calls.statistics, StatQuery(env.portal.id))
    assert total == 55 and [r.id for r in page] == [r.id for r in made[:50]]
    total, page = env.run(calls.statistics, StatQuery(env.portal.id, offset=50))
    assert total == 55 and [r.id for r in page] == [r.id for r in made[50:]]
    total, page = env.run(calls.statistics, StatQuery(env.portal.id, count=False))
    assert total is None and len(page) == 50


def test_statistics_filters_sorts_and_scopes_users(env):
    env.user("bob", user_id=2)
    mine = records(env, 3)
    bobs = records(env, 2, user_id=2)
    calls = calls_of(env)
    duration = STAT_FIELDS["CALL_DURATION"]
    query = StatQuery(
        env.portal.id,
        conditions=[Condition(duration, Op.GE, (1,))],
        sort=duration,
        descending=True,
    )
    total, page = env.run(calls.statistics, query)
    assert total == 3 and [r.duration for r in page] == [2, 1, 1]
    total, page = env.run(calls.statistics, StatQuery(env.portal.id, users=(2,)))
    assert [r.id for r in page] == [r.id for r in bobs]
    assert mine[0].id not in {r.id for r in page}
    total, page = env.run(calls.statistics, StatQuery(env.portal.id, users=()))
    assert total == 0 and page == ()


def test_a_taken_call_id_leaves_the_transaction_usable(env):
    calls = calls_of(env)
    first = new_call(env)
    register(env, first)
    later = new_call(env, phone="79785555555")

    async def both():
        async with calls.repo.transaction() as conn:
            assert await calls.register(env.portal, first, conn=conn) is None
            return await calls.register(env.portal, later, conn=conn)

    assert env.run(both).call_id == later.call_id
    assert env.run(calls.live, env.portal.id, later.call_id) is not None
