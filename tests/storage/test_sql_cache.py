"""The remembered WHERE clauses of storage/sql.py: same answers, bounded memory."""

from __future__ import annotations

from trunkline.domain.query import FIELDS, Condition, LineQuery, Op
from trunkline.storage import sql


def query(*conditions: Condition, app_id: str | None = None) -> LineQuery:
    return LineQuery(portal_id=7, app_id=app_id, conditions=list(conditions))


def test_listing_where_equals_where_clause_and_remembers_small_filters():
    small = query(Condition(FIELDS["CONFIG_ID"], Op.DEFAULT, (3,)))
    before = sql._scoped_where.cache_info().currsize
    for dialect in ("sqlite", "postgres"):
        where, params = sql.where_clause(small, dialect)
        assert sql.listing_where(small, dialect) == (where, tuple(params))
        assert sql.listing_where(small, dialect) == (where, tuple(params))
    assert sql._scoped_where.cache_info().currsize == before + 2  # one entry per dialect
    # Another scope is another entry, never the first one's answer.
    other = query(Condition(FIELDS["CONFIG_ID"], Op.DEFAULT, (3,)), app_id="app.x")
    assert sql.listing_where(other, "sqlite") != sql.listing_where(small, "sqlite")


def test_large_filters_are_answered_but_not_remembered():
    huge = query(Condition(FIELDS["TITLE"], Op.CONTAINS, ("x" * 100_000,)))
    many = query(Condition(FIELDS["CONFIG_ID"], Op.DEFAULT, tuple(range(1000))))
    terms = query(*(Condition(FIELDS["CONFIG_ID"], Op.GT, (n,)) for n in range(20)))
    before = sql._scoped_where.cache_info().currsize
    for big in (huge, many, terms):
        where, params = sql.where_clause(big, "sqlite")
        assert sql.listing_where(big, "sqlite") == (where, tuple(params))
    assert sql._scoped_where.cache_info().currsize == before
