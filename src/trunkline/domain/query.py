"""Queries over lines: the filter, sort and page of ``voximplant.sip.get`` as values.

A query is a list of :class:`Condition` values on the fields of :data:`FIELDS`,
the whitelist every filter and sort goes through: a field that is not here can
never reach SQL. No I/O, nothing of ours imported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

PAGE_SIZE = 50

# "float" and "date" (seconds since the epoch) compare as numbers, like "int".
FieldKind = Literal["int", "str", "float", "date"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the column (for lines: also the attribute of SipLine)
    kind: FieldKind
    encrypted: bool = False


# Wire name -> field. Every FILTER key and SORT value is looked up here.
FIELDS: dict[str, Field] = {
    "ID": Field("line_id", "int"),
    "TYPE": Field("type", "str"),
    "TITLE": Field("title", "str"),
    "CONFIG.PHONE_NAME": Field("title", "str"),
    "CONFIG_ID": Field("config_id", "int"),
    "REG_ID": Field("reg_id", "int"),
    "APP_ID": Field("app_id", "str"),
    "SERVER": Field("server", "str"),
    "LOGIN": Field("login", "str"),
    "PASSWORD": Field("password", "str", encrypted=True),
    "INCOMING_SERVER": Field("incoming_server", "str"),
    "INCOMING_LOGIN": Field("incoming_login", "str"),
    "INCOMING_PASSWORD": Field("incoming_password", "str", encrypted=True),
    "AUTH_USER": Field("auth_user", "str"),
    "OUTBOUND_PROXY": Field("outbound_proxy", "str"),
    "DETECT_LINE_NUMBER": Field("detect_line_number", "str"),
    "LINE_DETECT_HEADER_ORDER": Field("line_detect_header_order", "str"),
    "REGISTRATION_STATUS_CODE": Field("registration_status_code", "int"),
    "REGISTRATION_ERROR_MESSAGE": Field("registration_error_message", "str"),
}


class Op(enum.Enum):
    """Filter operators (``voximplant-sip.md`` §3.1)."""

    DEFAULT = ""  # case-insensitive equality; empty -> IS NULL or empty; list -> IN
    EQ = "="  # equality; empty -> IS NULL or empty; list -> IN
    NOT = "!"  # negation of DEFAULT (NULL rows match)
    NE = "!="  # IS NULL OR <>; list -> NOT IN
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    BETWEEN = "><"  # inclusive, value is (low, high)
    NOT_BETWEEN = "!><"
    CONTAINS = "%"  # case-insensitive substring, % and _ literal
    NOT_CONTAINS = "!%"
    SEARCH = "?"  # Bitrix logical search syntax, see SearchExpr
    IN = "@"
    NOT_IN = "!@"


NEGATIVE_OPS = frozenset({Op.NOT, Op.NE, Op.NOT_BETWEEN, Op.NOT_CONTAINS, Op.NOT_IN})

Scalar = int | float | str | None


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter term. ``values`` holds coerced scalars (several means "any of")."""

    field: Field
    op: Op
    values: tuple[Scalar, ...]
    search: SearchExpr | None = None


# Search expressions of the "?" operator: a tiny boolean tree of words.
@dataclass(frozen=True, slots=True)
class Word:
    pattern: str  # substring, "*" is a wildcard


@dataclass(frozen=True, slots=True)
class Not:
    operand: SearchExpr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[SearchExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[SearchExpr, ...]


SearchExpr = Word | Not | And | Or


@dataclass(slots=True)
class LineQuery:
    """A scoped, filtered, ordered page of lines."""

    portal_id: int
    app_id: str | None  # None: webhook caller, sees lines with no application
    conditions: list[Condition] = field(default_factory=list)
    sort: Field | None = None
    descending: bool = False
    offset: int = 0
    limit: int = PAGE_SIZE

    @property
    def needs_plaintext(self) -> bool:
        """True when a condition reads an encrypted column (evaluated after decryption)."""
        return any(c.field.encrypted for c in self.conditions) or bool(
            self.sort and self.sort.encrypted
        )
