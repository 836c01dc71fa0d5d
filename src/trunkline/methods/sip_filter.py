"""The FILTER parameter of ``voximplant.sip.get`` read into conditions.

Rules (``voximplant-sip.md`` §3.1, §7.4):

* Keys are upper-cased; a key is an operator prefix followed by a field name.
  Prefixes are tried longest first: ``!><`` ``><`` ``!=`` ``!%`` ``!@`` ``>=``
  ``<=`` ``!`` ``=`` ``>`` ``<`` ``%`` ``?`` ``@``. What remains must be a field
  of the whitelist, else the core's 400 ``"100"`` "Unknown field definition".
* ``LOGIC`` and numeric keys (nested groups) are dropped: they could only widen
  what the caller sees, and the application scope is always ANDed on. A plain
  ``APP_ID`` key is dropped too (the core overwrites it with the caller's own);
  prefixed ones (``=APP_ID``) are kept and can only narrow.
* Values: integers through PHP ``intval``, strings through PHP string
  conversion; an array means "any of"; nested arrays inside a value are
  skipped. ``><``/``!><`` need exactly two values, else the term is dropped.
* ``?`` takes Bitrix search syntax: words (``*`` wildcard), ``&`` or space for
  AND, ``|`` for OR, ``!`` for NOT, parentheses; an empty query is dropped.
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.php import intval, strval
from trunkline.domain.query import FIELDS, And, Condition, Not, Op, Or, Scalar, SearchExpr, Word
from trunkline.errors import UnknownFieldError

_PREFIXES = sorted(
    ((op.value, op) for op in Op if op is not Op.DEFAULT), key=lambda pair: -len(pair[0])
)
_OPERATOR_CHARS = frozenset("".join(prefix for prefix, _ in _PREFIXES))
MAX_SEARCH_LENGTH = 1000


def split_key(key: str) -> tuple[Op, str]:
    if not key or key[0] not in _OPERATOR_CHARS:
        return Op.DEFAULT, key
    for prefix, op in _PREFIXES:
        if key.startswith(prefix):
            return op, key[len(prefix) :]
    return Op.DEFAULT, key


def _values(raw: Any, kind: str) -> tuple[Scalar, ...]:
    items = raw if isinstance(raw, list) else list(raw.values()) if isinstance(raw, dict) else [raw]
    out: list[Scalar] = []
    for item in items:
        if isinstance(item, list | dict):
            continue
        if item is None:
            out.append(None)
        elif kind == "int":
            out.append(intval(item))
        else:
            # No stored value holds a NUL (writes refuse them); PostgreSQL cannot
            # even compare one, so it becomes a character that matches nothing.
            out.append((strval(item) or "").replace("\x00", "\ufffd"))
    return tuple(out)


def parse_filter(raw: Any) -> list[Condition]:
    if not isinstance(raw, dict):
        return []
    conditions: list[Condition] = []
    for key, value in {str(k).upper(): v for k, v in raw.items()}.items():
        if key in ("LOGIC", "APP_ID") or key.lstrip("-").isdigit():
            continue
        op, name = split_key(key)
        field = FIELDS.get(name)
        if field is None:
            raise UnknownFieldError(name)
        if op is Op.SEARCH:
            text = value if isinstance(value, str) else strval(value)
            expr = parse_search((text or "").replace("\x00", "\ufffd"))
            if expr is not None:
                conditions.append(Condition(field, op, (), expr))
            continue
        values = _values(value, field.kind)
        if op in (Op.BETWEEN, Op.NOT_BETWEEN):
            if len(values) != 2 or None in values:
                continue
        elif isinstance(value, list | dict) and not values and op not in (Op.DEFAULT, Op.EQ):
            continue
        conditions.append(Condition(field, op, values))
    return conditions


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    word = ""
    for ch in text[:MAX_SEARCH_LENGTH]:
        if ch in "&|!() \t":
            if word:
                out.append(word)
                word = ""
            if ch not in " \t":
                out.append(ch)
        else:
            word += ch
    if word:
        out.append(word)
    return out


class _SearchParser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expr(self, depth: int) -> SearchExpr | None:
        parts = [p for p in [self.term(depth)] if p is not None]
        while self.peek() == "|":
            self.take()
            part = self.term(depth)
            if part is not None:
                parts.append(part)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self, depth: int) -> SearchExpr | None:
        parts: list[SearchExpr] = []
        while self.peek() not in (None, "|", ")"):
            if self.peek() == "&":
                self.take()
                continue
            factor = self.factor(depth)
            if factor is not None:
                parts.append(factor)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self, depth: int) -> SearchExpr | None:
        token = self.take()
        if token == "!":
            if self.peek() in (None, "|", ")", "&"):
                return None
            inner = self.factor(depth)
            return None if inner is None else Not(inner)
        if token == "(":
            inner = self.expr(depth + 1) if depth < 16 else None
            # Skip to the matching ")" (or the end) whatever happened inside.
            level = 1
            while self.peek() is not None and level:
                t = self.take()
                level += {"(": 1, ")": -1}.get(t, 0)
            return inner
        return Word(token)


def parse_search(text: str) -> SearchExpr | None:
    """Bitrix logical search syntax to a boolean tree of words (None if empty)."""
    parser = _SearchParser(_tokens(text))
    result: SearchExpr | None = None
    parts: list[SearchExpr] = []
    while parser.peek() is not None:
        part = parser.expr(0)
        if part is not None:
            parts.append(part)
        if parser.peek() == ")":
            parser.take()
    if parts:
        result = parts[0] if len(parts) == 1 else And(tuple(parts))
    return result
