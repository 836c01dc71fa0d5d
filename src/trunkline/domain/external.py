"""External telephony: an application's own lines and the calls it reports (no I/O).

An application that connects a PBX to the portal (``telephony.externalLine.*``,
``telephony.externalCall.*``) owns its lines. Rules written here:

* A line belongs to one portal and one application: two apps may each have line
  ``"100"``, one app may not have it twice ("Line already exists"). Calls made with a
  webhook belong to "no application" (``rest_app_id`` None), which owns lines too.
* A NUMBER is trimmed; empty after trimming is refused ("NUMBER should not be empty").
  The core's column holds 50 characters: a longer NUMBER is cut to 50, as the core's
  ``LINE_NUMBER`` handling does.
* ``CRM_AUTO_CREATE`` is ``Y`` unless given as something other than ``Y`` (then ``N``).
* A call registered with a ``LINE_NUMBER`` the app has no line for creates that line
  (name empty, ``CRM_AUTO_CREATE`` Y), as the core does.
* The portal number of a call is its line's NUMBER, or ``REST_APP:<app id>`` without a
  line (``REST_APP:`` for a webhook's call).
* A client's phone number keeps its digits and ``# * , ;`` (the core strips letters,
  spaces, dashes, brackets and ``+``); nothing left is "Unsupported phone number format".
* TYPE is one of 1..5, compared as PHP's ``in_array`` does (``"2"``, ``2``, ``" 2"`` and
  ``2.0`` are 2; ``"2x"``, arrays and 0 are unknown).
* An external call starts when it is registered (``OnVoximplantCallStart`` at once).
* Re-registration: a live call of the same app, user, number and TYPE (and line and
  EXTERNAL_CALL_ID when given) started within 30 minutes of the application clock is
  the same call (``domain/calls.py`` ``RecentKey``); CRM fields and the start date are
  not keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkline.domain.calls import CallType

LINE_NUMBER_MAX = 50
REST_APP_PREFIX = "REST_APP"


@dataclass(frozen=True, slots=True)
class ExternalLine:
    id: int
    portal_id: int
    rest_app_id: int | None
    number: str
    name: str
    crm_auto_create: bool


def line_number(text: str) -> str:
    """A NUMBER as stored: trimmed and cut to the column's length."""
    return text.strip()[:LINE_NUMBER_MAX]


def crm_auto_create(value: str | None) -> bool:
    """``CRM_AUTO_CREATE``: only ``Y`` turns it on (absent: on)."""
    return value is None or value == "Y"


def rest_app_number(rest_app_id: int | None) -> str:
    """The PORTAL_NUMBER of an app's call without a line."""
    return f"{REST_APP_PREFIX}:{'' if rest_app_id is None else rest_app_id}"


_NOT_PHONE = re.compile(r"[^0-9#*,;]")
_NUMERIC = re.compile(r"[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*")


def client_phone(text: str) -> str:
    """A client's number as the core keeps it ("" when nothing is left)."""
    return _NOT_PHONE.sub("", text)


_CALL_TYPES = {int(kind): kind for kind in CallType}  # (CallType(n) costs ~4,700 instructions)


def call_type(value: object) -> CallType | None:
    """TYPE as PHP's loose ``in_array($type, [1, 2, 3, 4, 5])`` reads it; None: unknown."""
    if isinstance(value, bool):
        number: float = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _NUMERIC.fullmatch(value):
        try:
            number = float(value)
        except ValueError:  # pragma: no cover - the pattern admits only numbers
            return None
    else:
        return None
    if number.is_integer() and 1 <= number <= 5:
        return _CALL_TYPES[int(number)]
    return None
