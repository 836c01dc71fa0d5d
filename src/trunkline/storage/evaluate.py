"""The filter semantics of ``storage/sql.py`` evaluated in Python.

Encrypted columns (PASSWORD, INCOMING_PASSWORD) cannot be compared in SQL, so a
query that filters or sorts on them reads the caller's scope (already narrowed by
every plain-column condition), decrypts it, and finishes here. The tests run the
same filters both ways and require identical answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from trunkline.domain.lines import SipLine
from trunkline.domain.query import (
    NEGATIVE_OPS,
    And,
    Condition,
    Field,
    LineQuery,
    Not,
    Op,
    Or,
    SearchExpr,
    Word,
)
from trunkline.storage.sql import _POSITIVE, is_empty


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _contains(haystack: Any, needle: str) -> bool:
    return haystack is not None and needle.lower() in _text(haystack).lower()


def _word(haystack: Any, pattern: str) -> bool:
    if haystack is None:
        return False
    regex = ".*".join(re.escape(part.lower()) for part in pattern.split("*"))
    return re.search(regex, _text(haystack).lower(), re.DOTALL) is not None


def _search(haystack: Any, expr: SearchExpr) -> bool:
    if isinstance(expr, Word):
        return _word(haystack, expr.pattern)
    if isinstance(expr, Not):
        return not _search(haystack, expr.operand)
    if isinstance(expr, And):
        return all(_search(haystack, e) for e in expr.operands)
    assert isinstance(expr, Or)
    return any(_search(haystack, e) for e in expr.operands)


def _compare(a: Any, b: Any, kind: str) -> int:
    if kind == "str":
        left, right = _text(a).encode(), _text(b).encode()
    else:
        left, right = a, b
    return (left > right) - (left < right)


def matches(line: SipLine, cond: Condition) -> bool:
    if cond.op in NEGATIVE_OPS:
        positive = Condition(cond.field, _POSITIVE[cond.op], cond.values, cond.search)
        return not matches(line, positive)
    value = getattr(line, cond.field.name)
    kind = cond.field.kind
    if cond.op in (Op.DEFAULT, Op.EQ, Op.IN):
        wants_empty = not cond.values or any(is_empty(v, kind) for v in cond.values)
        if wants_empty and is_empty(value, kind):
            return True
        present = [v for v in cond.values if not is_empty(v, kind)]
        if value is None:
            return False
        if kind == "str":
            return _text(value).lower() in {str(v).lower() for v in present}
        return value in present
    if value is None:
        return False
    if cond.op is Op.GT:
        return any(_compare(value, v, kind) > 0 for v in cond.values)
    if cond.op is Op.GE:
        return any(_compare(value, v, kind) >= 0 for v in cond.values)
    if cond.op is Op.LT:
        return any(_compare(value, v, kind) < 0 for v in cond.values)
    if cond.op is Op.LE:
        return any(_compare(value, v, kind) <= 0 for v in cond.values)
    if cond.op is Op.BETWEEN:
        low, high = cond.values
        return _compare(value, low, kind) >= 0 and _compare(value, high, kind) <= 0
    if cond.op is Op.CONTAINS:
        return any(_contains(value, str(v)) for v in cond.values)
    assert cond.op is Op.SEARCH and cond.search is not None
    return _search(value, cond.search)


def _sort_key(field: Field) -> Any:
    def key(line: SipLine) -> tuple[int, Any]:
        value = getattr(line, field.name)
        if value is None:
            return (0, b"" if field.kind == "str" else 0)
        return (1, _text(value).encode() if field.kind == "str" else value)

    return key


def apply(lines: Sequence[SipLine], query: LineQuery) -> tuple[int, list[SipLine]]:
    """Filter (every condition), sort and page; returns (total, page)."""
    kept = [line for line in lines if all(matches(line, c) for c in query.conditions)]
    kept.sort(key=lambda line: line.config_id, reverse=query.descending and query.sort is not None)
    if query.sort is not None and query.sort.name != "config_id":
        # NULLs first when ascending, last when descending (as the SQL does).
        kept.sort(key=_sort_key(query.sort), reverse=query.descending)
    return len(kept), kept[query.offset : query.offset + query.limit]
