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
"""

from __future__ import annotations

from dataclasses import dataclass

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
