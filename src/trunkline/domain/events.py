"""The events a portal offers (``events``, ``event.bind``) and the values of a binding.

Rules:

* Every event belongs to a scope; the ``basic`` events (an app's own life, the offline
  queue's notice) are open to every app. An app may bind the events of its scopes and
  the basic ones (``ERROR_EVENT_NOT_FOUND`` otherwise). Names are upper case on the wire
  and compared in upper case.
* The telephony events are those of ``api-reference/telephony/events/`` and
  ``.../voximplant/events/``; the CRM, task and user events are the ones the docs'
  ``events`` example lists, offered so that apps can bind them, though only
  ``trunkline event fire`` raises them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BASIC = "basic"

_BASIC = (
    "ONAPPUNINSTALL",
    "ONAPPINSTALL",
    "ONAPPUPDATE",
    "ONAPPPAYMENT",
    "ONAPPTEST",
    "ONAPPMETHODCONFIRM",
    "ONOFFLINEEVENT",
)
_TELEPHONY = (
    "ONEXTERNALCALLSTART",
    "ONEXTERNALCALLBACKSTART",
    "ONVOXIMPLANTCALLINIT",
    "ONVOXIMPLANTCALLSTART",
    "ONVOXIMPLANTCALLEND",
    # Trunkline's own (not Bitrix24's): a line's registration changed (domain/history.py).
    "ONTRUNKLINELINESTATE",
)
_CRM_ENTITIES = ("LEAD", "DEAL", "COMPANY", "CONTACT", "QUOTE", "INVOICE")
_CRM = (
    *(f"ONCRM{e}{op}" for e in _CRM_ENTITIES for op in ("ADD", "UPDATE", "DELETE")),
    "ONCRMINVOICESETSTATUS",
    "ONCRMDEALMOVETOCATEGORY",
    *(
        f"ONCRM{e}USERFIELD{op}"
        for e in (*_CRM_ENTITIES, "REQUISITE")
        for op in ("ADD", "UPDATE", "DELETE", "SETENUMVALUES")
    ),
    *(
        f"ONCRM{e}{op}"
        for e in (
            "CURRENCY",
            "PRODUCT",
            "PRODUCTPROPERTY",
            "PRODUCTSECTION",
            "ACTIVITY",
            "REQUISITE",
            "BANKDETAIL",
            "MEASURE",
            "TIMELINECOMMENT",
            "DYNAMICITEM",
            "TYPE",
            "DOCUMENTGENERATORDOCUMENT",
        )
        for op in ("ADD", "UPDATE", "DELETE")
    ),
    "ONCRMADDRESSREGISTER",
    "ONCRMADDRESSUNREGISTER",
    *(
        f"ONCRM{e}RECURRING{op}"
        for e in ("DEAL", "INVOICE")
        for op in ("ADD", "UPDATE", "DELETE", "EXPOSE")
    ),
)
_TASK = tuple(f"ONTASK{e}{op}" for e in ("", "COMMENT") for op in ("ADD", "UPDATE", "DELETE"))

# event -> its scope, in the order ``events`` lists them
CATALOG: dict[str, str] = {
    **dict.fromkeys(_BASIC, BASIC),
    **dict.fromkeys(("ONUSERADD",), "user"),
    **dict.fromkeys(_CRM, "crm"),
    **dict.fromkeys(_TASK, "task"),
    **dict.fromkeys(_TELEPHONY, "telephony"),
}

ONLINE = "online"
OFFLINE = "offline"
EVENT_TYPES = (ONLINE, OFFLINE)


def offered(scopes: frozenset[str] | tuple[str, ...]) -> list[str]:
    """The events an app with ``scopes`` may bind: the basic ones and its scopes'."""
    return [name for name, scope in CATALOG.items() if scope == BASIC or scope in scopes]


def of_scope(scope: str) -> list[str]:
    return [name for name, owner in CATALOG.items() if owner == scope.lower()]


@dataclass(frozen=True, slots=True)
class Binding:
    """A handler ``event.bind`` registered for an app's install (``id`` is the
    ``event_handler_id`` its events carry)."""

    id: int
    portal_id: int
    install_id: int
    event: str
    handler: str
    auth_type: int  # 0: the user who raised the event
    event_type: str  # online | offline
    auth_connector: str
    options: str  # JSON
    user_id: int  # who bound it


# -- the offline queue (event.offline.*) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class OfflineRecord:
    id: int
    event: str
    data: Any
    additional: str
    message_id: str
    process_id: str | None
    error: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class Condition:
    column: str  # a column of event_offline
    op: str  # =, <>, <, <=, >, >=
    value: object


Order = Sequence[tuple[str, bool]]  # (column, descending) of event_offline


# -- the delivery journal -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of the delivery journal."""

    portal_id: int
    event: str
    outcome: str  # delivered | failed | refused | queued
    reason: str = ""
    handler: str = ""
    outbox_id: int | None = None
    install_id: int | None = None
    binding_id: int | None = None
    app_id: str = ""
    attempt: int = 0
    status: int | None = None
    duration_ms: float = 0.0
    at: float = 0.0
    id: int = 0


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Filters of the journal (all optional), newest first unless ``after`` is set."""

    portal_id: int | None = None
    event: str | None = None
    outcome: str | None = None
    app_id: str | None = None
    handler: str | None = None
    after: int | None = None  # only ids above this one, oldest first (``--follow``)
    limit: int = 100
