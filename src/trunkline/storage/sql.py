"""Line queries rendered as parameterised SQL.

Rules (the semantics of ``voximplant-sip.md`` §3.1, "safe middle ground"):

* Column names come only from :data:`trunkline.domain.query.FIELDS`; every user value
  travels as a bound parameter. Nothing a caller sends is ever spliced into SQL.
* Strings compare case-insensitively (``lower(col)`` against a lowered value);
  ``%`` and ``_`` in values are literal. Ordering and ``<``/``>`` on strings use
  byte order on both backends.
* An "empty" value (None, ``''``, or 0 for integers) means *IS NULL or empty*.
* Negative operators match rows whose column is NULL (``NOT COALESCE(p, FALSE)``).
* The application scope is always ANDed on; user terms can only narrow it.
* Placeholders are ``?``; the PostgreSQL driver renumbers them to ``$n``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from trunkline.domain.query import (
    NEGATIVE_OPS,
    And,
    Condition,
    Field,
    LineQuery,
    Not,
    Op,
    Or,
    Scalar,
    SearchExpr,
    Word,
)

Dialect = Literal["sqlite", "postgres"]

LINE_COLUMNS = (
    "line_id",
    "config_id",
    "app_id",
    "type",
    "title",
    "server",
    "login",
    "password",
    "incoming_server",
    "incoming_login",
    "incoming_password",
    "auth_user",
    "outbound_proxy",
    "detect_line_number",
    "line_detect_header_order",
    "reg_id",
    "registration_status_code",
    "registration_error_message",
    "registration_updated_at",
    "registration_result",
    "version",
)
SELECT_LINES = "SELECT portal_id, " + ", ".join(LINE_COLUMNS) + " FROM lines"
SELECT_LINES_WITH_ID = "SELECT id, portal_id, " + ", ".join(LINE_COLUMNS) + " FROM lines"

_POSITIVE = {
    Op.NOT: Op.DEFAULT,
    Op.NE: Op.EQ,
    Op.NOT_BETWEEN: Op.BETWEEN,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.NOT_IN: Op.IN,
}
_COMPARISON = {Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}


def is_empty(value: Scalar, kind: str) -> bool:
    return value is None or value == "" or (kind == "int" and value == 0)


def like_pattern(fragment: str) -> str:
    """``%fragment%`` with LIKE wildcards in the fragment escaped."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


@dataclass
class SqlBuilder:
    """Renders :class:`Condition` values as SQL with bound parameters (lines, and the call
    statistics, whose fields are other whitelists of the same :class:`Field` values)."""

    dialect: Dialect
    params: list[object] = field(default_factory=list)

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def text(self, column: str) -> str:
        return f'{column} COLLATE "C"' if self.dialect == "postgres" else column

    def condition(self, cond: Condition) -> str:
        if cond.op in NEGATIVE_OPS:
            positive = Condition(cond.field, _POSITIVE[cond.op], cond.values, cond.search)
            return f"NOT COALESCE(({self.condition(positive)}), FALSE)"
        col, kind = cond.field.name, cond.field.kind
        if cond.op in (Op.DEFAULT, Op.EQ, Op.IN):
            return self._equals(col, kind, cond.values)
        if cond.op in _COMPARISON:
            sign = _COMPARISON[cond.op]
            target = self.text(col) if kind == "str" else col
            return _any(f"{target} {sign} {self.bind(v)}" for v in cond.values)
        if cond.op is Op.BETWEEN:
            low, high = cond.values
            target = self.text(col) if kind == "str" else col
            return f"({target} >= {self.bind(low)} AND {target} <= {self.bind(high)})"
        if cond.op is Op.CONTAINS:
            target = self._lowered_text(col, kind)
            return _any(
                f"{target} LIKE {self.bind(like_pattern(str(v)))} ESCAPE '\\'" for v in cond.values
            )
        assert cond.op is Op.SEARCH and cond.search is not None
        return self._search(self._lowered_text(col, kind), cond.search)

    def _lowered_text(self, col: str, kind: str) -> str:
        return f"lower({col})" if kind == "str" else f"CAST({col} AS TEXT)"

    def _equals(self, col: str, kind: str, values: tuple[Scalar, ...]) -> str:
        terms: list[str] = []
        if not values or any(is_empty(v, kind) for v in values):
            empty = "''" if kind == "str" else "0"
            terms.append(f"{col} IS NULL OR {col} = {empty}")
        present = [v for v in values if not is_empty(v, kind)]
        if present:
            if kind == "str":
                marks = ", ".join(self.bind(str(v).lower()) for v in present)
                terms.append(f"lower({col}) IN ({marks})")
            else:
                marks = ", ".join(self.bind(v) for v in present)
                terms.append(f"{col} IN ({marks})")
        return _any(terms)

    def _search(self, target: str, expr: SearchExpr) -> str:
        if isinstance(expr, Word):
            pattern = like_pattern(expr.pattern).replace("*", "%")
            return f"{target} LIKE {self.bind(pattern)} ESCAPE '\\'"
        if isinstance(expr, Not):
            return f"NOT COALESCE(({self._search(target, expr.operand)}), FALSE)"
        joiner = " AND " if isinstance(expr, And) else " OR "
        assert isinstance(expr, And | Or)
        return "(" + joiner.join(self._search(target, e) for e in expr.operands) + ")"


def _any(terms: Iterable[str]) -> str:
    parts = list(terms)
    if not parts:
        return "1 = 0"
    return "(" + " OR ".join(f"({t})" for t in parts) + ")"


def scope_where(query: LineQuery, builder: SqlBuilder) -> str:
    where = f"portal_id = {builder.bind(query.portal_id)}"
    if query.app_id is None:
        where += " AND app_id = ''"
    else:
        where += f" AND lower(app_id) = {builder.bind(query.app_id.lower())}"
    return where


def where_clause(
    query: LineQuery, dialect: Dialect, *, include_encrypted: bool = False
) -> tuple[str, list[object]]:
    """The WHERE clause (scope AND every plain-column condition) and its parameters."""
    builder = SqlBuilder(dialect)
    parts = [scope_where(query, builder)]
    for cond in query.conditions:
        if cond.field.encrypted and not include_encrypted:
            continue
        parts.append(builder.condition(cond))
    return " WHERE " + " AND ".join(parts), builder.params


@lru_cache(maxsize=4096)
def _scoped_where(
    conditions: tuple[Condition, ...], portal_id: int, app_id: str | None, dialect: Dialect
) -> tuple[str, tuple[object, ...]]:
    where, params = where_clause(LineQuery(portal_id, app_id, list(conditions)), dialect)
    return where, tuple(params)


def listing_where(
    query: LineQuery, dialect: Dialect, *, small: bool | None = None
) -> tuple[str, tuple[object, ...]]:
    """``where_clause`` remembered for recent queries (a client polling the same filter
    builds it once). Conditions are frozen and hold only ints, strings and None, so equal
    keys give equal SQL and parameters; the parameters come back as a tuple to share.
    Only small filters are remembered, so the cache stays small whatever callers send."""
    if small_filter(query) if small is None else small:
        return _scoped_where(tuple(query.conditions), query.portal_id, query.app_id, dialect)
    where, params = where_clause(query, dialect)
    return where, tuple(params)


def small_filter(query: LineQuery) -> bool:
    """Few terms of few short values: a query whose answers may be remembered."""
    conditions = query.conditions
    return len(conditions) <= _SMALL_TERMS and all(_small(c) for c in conditions)


_SMALL_TERMS = 8


def _small(cond: Condition) -> bool:
    return (
        cond.search is None
        and len(cond.values) <= _SMALL_TERMS
        and all(not isinstance(v, str) or len(v) <= 64 for v in cond.values)
    )


def order_clause(sort: Field | None, descending: bool, dialect: Dialect) -> str:
    if sort is None or sort.name == "config_id":
        return " ORDER BY config_id DESC" if descending and sort else " ORDER BY config_id"
    col = sort.name
    target = f'{col} COLLATE "C"' if dialect == "postgres" and sort.kind == "str" else col
    if descending:
        return f" ORDER BY ({col} IS NULL), {target} DESC, config_id DESC"
    return f" ORDER BY ({col} IS NULL) DESC, {target}, config_id"


def page_keys_sql(where: str, query: LineQuery, dialect: Dialect) -> str:
    """The page as (row id, version) pairs: what the row cache needs to answer it."""
    return (
        "SELECT id, version FROM lines"
        + where
        + order_clause(query.sort, query.descending, dialect)
        + " LIMIT ? OFFSET ?"
    )


def line_sql(
    portal_id: int, app_id: str | None, config_id: int, dialect: Dialect
) -> tuple[str, list[object]]:
    """The one line with this CONFIG_ID inside the caller's application scope."""
    builder = SqlBuilder(dialect)
    where = scope_where(LineQuery(portal_id=portal_id, app_id=app_id), builder)
    where += f" AND config_id = {builder.bind(config_id)}"
    return SELECT_LINES + " WHERE " + where, builder.params


def scope_sql(query: LineQuery, dialect: Dialect) -> tuple[str, list[object]]:
    """Every line of the scope that passes the plain-column conditions (no paging)."""
    where, params = where_clause(query, dialect)
    return SELECT_LINES + where + " ORDER BY config_id", params
