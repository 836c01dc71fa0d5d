"""The SQL rendering of filters agrees with the Python evaluator, on every backend.

Hypothesis draws lines and filters; the same query is answered by SQL and by
``storage/evaluate.py`` (which serves the encrypted columns).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.storage.helpers import set_registration
from trunkline.domain.lines import LineType, NewLine
from trunkline.domain.query import FIELDS, Condition, LineQuery, Op
from trunkline.methods.sip_filter import parse_search
from trunkline.storage import evaluate

TEXTS = ["", "a", "A", "ab", "b_c", "b%c", "Zed", "é", "É", "10", "9", "x y"]
STRING_FIELDS = ["TITLE", "SERVER", "LOGIN"]
INT_FIELDS = ["CONFIG_ID", "REG_ID", "REGISTRATION_STATUS_CODE"]

ROWS = [
    (
        title,
        TEXTS[(i * 5 + 1) % len(TEXTS)] or "s",
        TEXTS[(i * 7 + 2) % len(TEXTS)] or "l",
        i % 3 == 0,
        [None, 0, 200, 401][i % 4],
    )
    for i, title in enumerate(TEXTS + TEXTS[::-1])
]


@st.composite
def conditions(draw):
    if draw(st.booleans()):
        field = FIELDS[draw(st.sampled_from(STRING_FIELDS))]
        value = st.sampled_from(TEXTS)
    else:
        field = FIELDS[draw(st.sampled_from(INT_FIELDS))]
        value = st.sampled_from([0, 1, 2, 3, 150001, 200, 401])
    op = draw(st.sampled_from([o for o in Op if o is not Op.SEARCH]))
    if op in (Op.BETWEEN, Op.NOT_BETWEEN):
        values = tuple(sorted([draw(value), draw(value)], key=str))
    else:
        values = tuple(draw(st.lists(value, min_size=1, max_size=3)))
    if op is Op.SEARCH or (field.kind == "str" and draw(st.integers(0, 5)) == 0):
        expr = parse_search(draw(st.sampled_from(["a", "a | b", "!a", "b* & c", "(a|z) !x"])))
        return Condition(field, Op.SEARCH, (), expr)
    return Condition(field, op, values)


@pytest.fixture
def populated(sqlite_and_pg):
    """Both backends holding the same lines (titles repeat: no unique index on ''/case)."""
    for env in sqlite_and_pg:
        store = env.app.store

        async def fill(env=env, store=store):
            async with store.lines.line_writer(env.portal.id) as writer:
                for i, (title, server, login, cloud, status) in enumerate(ROWS):
                    kind = LineType.CLOUD if cloud and i < 20 else LineType.OFFICE
                    line = await writer.insert(
                        NewLine(kind, f"{title}#{i}" if title else "", server, login, None, ""),
                        incoming_server="x",
                    )
                    await set_registration(store, env.portal.id, line.config_id, status, None)

        env.run(fill)
    return sqlite_and_pg


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    conds=st.lists(conditions(), min_size=1, max_size=2),
    sort=st.sampled_from([None, "TITLE", "LOGIN", "CONFIG_ID", "REGISTRATION_STATUS_CODE"]),
    descending=st.booleans(),
    offset=st.sampled_from([0, 3]),
)
def test_sql_and_python_agree(populated, conds, sort, descending, offset):
    for env in populated:
        store = env.app.store
        query = LineQuery(
            portal_id=env.portal.id,
            app_id=None,
            conditions=list(conds),
            sort=FIELDS[sort] if sort else None,
            descending=descending,
            offset=offset,
            limit=7,
        )

        async def answer(store=store, query=query, env=env):
            return (
                *await store.lines.list_lines(query),
                await store.lines.all_lines(env.portal.id),
            )

        total, page, everything = env.run(answer)
        expected_total, expected_page = evaluate.apply(everything, query)
        assert total == expected_total, (env.backend, conds)
        if sort in (None, "CONFIG_ID"):
            assert [x.config_id for x in page] == [x.config_id for x in expected_page]
        else:
            key = FIELDS[sort].name
            assert [getattr(x, key) for x in page] == [getattr(x, key) for x in expected_page]


def test_filters_match_something(populated):
    """The generated data is rich enough that filters select proper subsets."""
    env = populated[0]
    cond = Condition(FIELDS["TITLE"], Op.CONTAINS, ("A",))
    query = LineQuery(portal_id=env.portal.id, app_id=None, conditions=[cond])
    total, _ = env.run(env.app.store.lines.list_lines, query)
    assert 0 < total < len(ROWS)
