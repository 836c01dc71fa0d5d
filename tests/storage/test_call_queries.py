"""The statistics page reads one portal's rows through its index, whatever the table holds."""

from __future__ import annotations

import sqlite3

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
