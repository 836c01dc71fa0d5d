"""Domain values of SIP lines: no I/O, nothing of ours imported.

A line is the pair of rows the real service keeps (``b_voximplant_config`` and
``b_voximplant_sip``) folded into one value. ``config_id`` is the public id;
``line_id`` is the internal ``ID`` that only ``voximplant.sip.add`` reveals.

Queries over lines are expressed as :class:`Condition` values on the fields of
:data:`FIELDS`, the whitelist every filter and sort goes through: a field that
is not here can never reach SQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

MAX_CLOUD_LINES = 10
PAGE_SIZE = 50
FIELD_MAX_LENGTH = 100
TITLE_MAX_LENGTH = 255
DEFAULT_HEADER_ORDER = "diversion;to"


class LineType(enum.StrEnum):
    CLOUD = "cloud"
    OFFICE = "office"


class RegistrationState(enum.StrEnum):
    """``STATUS_RESULT`` of ``voximplant.sip.status``."""

    WAIT = "wait"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    ERROR = "error"


@dataclass(slots=True)
class SipLine:
    portal_id: int
    line_id: int
    config_id: int
    app_id: str
    type: LineType
    title: str | None
    server: str | None
    login: str | None
    password: str | None
    incoming_server: str | None = None
    incoming_login: str | None = None
    incoming_password: str | None = None
    auth_user: str | None = None
    outbound_proxy: str | None = None
    detect_line_number: str = "N"
    line_detect_header_order: str = DEFAULT_HEADER_ORDER
    reg_id: int = 0
    registration_status_code: int | None = None
    registration_error_message: str | None = None
    registration_updated_at: float | None = None
    registration_result: str | None = None  # STATUS_RESULT; None: not attempted (wait)
    version: int = 1  # bumped by every write of the row (storage caches by it)


@dataclass(frozen=True, slots=True)
class OfficeBinding:
    """A contact an office PBX registered for a line (RFC 3261 §10.3), as stored."""

    contact: str
    received_host: str
    received_port: int
    transport: str
    call_id: str
    cseq: int
    user_agent: str
    expires_at: float
    updated_at: float
    instance_id: str = ""  # RFC 5626 +sip.instance of the Contact ("" when absent)
    reg_id: int = 0  # RFC 5626 reg-id (0 when absent)


@dataclass(slots=True)
class NewLine:
    """What ``voximplant.sip.add`` stores (the rest takes its defaults)."""

    type: LineType
    title: str
    server: str
    login: str
    password: str | None
    app_id: str


@dataclass(slots=True)
class LineChanges:
    """What ``voximplant.sip.update`` changes; None means "not given"."""

    title: str | None = None
    server: str | None = None
    login: str | None = None
    password: str | None = None

    @property
    def credentials_changed(self) -> bool:
        return self.server is not None or self.login is not None or self.password is not None

    @property
    def empty(self) -> bool:
        return self.title is None and not self.credentials_changed


FieldKind = Literal["int", "str"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # attribute of SipLine and column of the lines table
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

Scalar = int | str | None


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
