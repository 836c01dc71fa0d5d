"""The statistics page reads one portal's rows through its index, whatever the table holds."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from trunkline.domain.query import Condition, Op
from trunkline.domain.statistics import STAT_FIELDS, StatQuery
from trunkline.storage import migrate
from trunkline.storage.call_rows import SELECT_RECORDS
from trunkline.storage.calls import stat_where
from trunkline.storage.url import DatabaseUrl


def plan(path, sql, params):
    with sqlite3.connect(path) as db:
        return " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_a_page_and_its_count_use_the_portal_index(tmp_path):
    path = tmp_path / "plan.sqlite3"
    migrate.upgrade(DatabaseUrl(f"sqlite:///{path}"))
    for query in (
        StatQuery(7),
        StatQuery(7, users=(1,)),
        StatQuery(7, conditions=[Condition(STAT_FIELDS["PHONE_NUMBER"], Op.CONTAINS, ("22",))]),
    ):
        where, params = stat_where(query, "sqlite")
        page = plan(path, SELECT_RECORDS + where + " ORDER BY id LIMIT 50 OFFSET 0", params)
        assert "ix_call_statistics_page" in page and "TEMP B-TREE" not in page, page
        count = plan(path, "SELECT COUNT(*) FROM call_statistics" + where, params)
        assert "ix_call_statistics_page" in count or "uq_call_statistics" in count, count


def test_a_live_call_takes_the_new_calls_fields_first_in_their_order():
    """insert_call builds the stored LiveCall from NewCall's values by position."""
    from dataclasses import fields

    from trunkline.domain.calls import LiveCall, NewCall

    new = [f.name for f in fields(NewCall)]
    assert [f.name for f in fields(LiveCall)][: len(new)] == new


def test_row_values_follow_their_columns():
    """call_values and record_values list their values in the columns' order, by hand."""
    from trunkline.domain.calls import (
        CallCategory,
        CallOrigin,
        CallRecord,
        CallType,
        CrmRef,
        CrmType,
        LineKind,
        NewCall,
    )
    from trunkline.storage.call_rows import (
        CALL_COLUMNS,
        INSERT_COLUMNS,
        call_values,
        crm_text,
        record_values,
    )

    crm = CrmRef(CrmType.LEAD, 9)
    ints = iter(range(100, 200))
    new = NewCall(
        call_id="c",
        call_type=CallType.INCOMING,
        origin=CallOrigin.REST_APP,
        line_kind=LineKind.EXTERNAL,
        portal_number="pn",
        user_id=next(ints),
        phone_number="ph",
        started_at=1.5,
        line_id=next(ints),
        rest_app_id=next(ints),
        rest_app_name="app",
        external_call_id="ext",
        portal_user_id=next(ints),
        crm_enabled=False,
        crm=crm,
        crm_bindings=(crm, CrmRef(CrmType.CONTACT, 3)),
        crm_created=(crm,),
        lead_error="err",
        answered_by=next(ints),
        session_id=next(ints),
        redial_attempt=next(ints),
        comment="note",
        call_list_id=next(ints),
    )
    named = {
        name: getattr(new, name)
        for name in CALL_COLUMNS
        if name not in ("call_type", "origin", "line_kind", "crm_entity_type", "crm_entity_id")
    }
    named |= {
        "call_type": int(new.call_type),
        "origin": new.origin.value,
        "line_kind": new.line_kind.value,
        "crm_entity_type": "LEAD",
        "crm_entity_id": 9,
        "crm_bindings": crm_text(new.crm_bindings),
        "crm_created": crm_text(new.crm_created),
    }
    assert call_values(7, new, 2.5, 3.5) == [7, *(named[n] for n in CALL_COLUMNS), 2.5, 3.5]

    record = CallRecord(
        **{f: next(ints) for f in ("id", "portal_id", "portal_user_id", "duration", "vote")},
        call_id="c",
        call_type=CallType.OUTGOING,
        category=CallCategory.INTERNAL,
        origin=CallOrigin.REST_APP,
        portal_number="pn",
        phone_number="ph",
        started_at=1.5,
        cost=Decimal("1.2500"),
        cost_currency="RUB",
        failed_code="200",
        failed_reason="ok",
        external_call_id="ext",
        call_log="log",
        record_url="url",
        crm=crm,
        crm_activity_id=next(ints),
        rest_app_id=next(ints),
        rest_app_name="app",
        transcript_id=next(ints),
        transcript_pending=True,
        session_id=next(ints),
        redial_attempt=next(ints),
        comment="note",
        record_duration=next(ints),
        record_file_id=next(ints),
        line_id=next(ints),
        crm_created=(crm,),
    )
    special = {
        "call_type": int(record.call_type),
        "category": record.category.value,
        "origin": record.origin.value,
        "crm_entity_type": "LEAD",
        "crm_entity_id": 9,
        "transcript_pending": "Y",
        "crm_created": "LEAD:9",
        "created_at": 3.5,
    }
    expected = [special[n] if n in special else getattr(record, n) for n in INSERT_COLUMNS]
    assert record_values(record, 3.5) == expected
