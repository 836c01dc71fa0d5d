"""Domain values of SIP lines: no I/O, nothing of ours imported but domain/values.

A line is the pair of rows the real service keeps (``b_voximplant_config`` and
``b_voximplant_sip``) folded into one value. ``config_id`` is the public id;
``line_id`` is the internal ``ID`` that only ``voximplant.sip.add`` reveals.
Queries over lines (filters, sort, pages) are in ``domain/query.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trunkline.domain.values import request_value

MAX_CLOUD_LINES = 10
FIELD_MAX_LENGTH = 100
TITLE_MAX_LENGTH = 255
DEFAULT_HEADER_ORDER = "diversion;to"


class LineType(enum.StrEnum):
    CLOUD = "cloud"
    OFFICE = "office"


class RegistrationState(enum.StrEnum):
    """``STATUS_RESULT`` of ``voximplant.sip.status``: the one vocabulary of a cloud line's
    registration outside the SIP core (the engine maps ``sip.lifecycle.LineResult`` to it;
    storage reads and writes it; the wire shows its value)."""

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
    registration_result: RegistrationState | None = None  # STATUS_RESULT; None: not tried
    version: int = 1  # bumped by every write of the row (storage caches by it)


@request_value  # made per REGISTER (engine/bindings.py) and per row read: not frozen
class OfficeBinding:
    """A contact an office PBX registered for a line (RFC 3261 §10.3), as stored. Never
    changed once made (compared and hashed by value)."""

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
