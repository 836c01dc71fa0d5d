"""``voximplant.sip.status``: the registration state of a cloud line (``voximplant-sip.md`` §8).

Rules:

* The "Manage numbers - modify" right comes first (403 ``ACCESS_DENIED``, checked by the
  dispatcher); then ``REG_ID`` (PHP
  ``intval``) must name a cloud line of the caller's portal, whatever its application,
  else 400 ``REG_ID_NOT_FOUND`` in the wording the ``error_texts`` setting picks.
* The result has exactly five keys with fixed JSON types: ``REG_ID`` int, ``LAST_UPDATED``
  string ``YYYY-MM-DD HH:MM:SS`` in the portal's timezone (the time the outcome last
  changed), ``ERROR_MESSAGE`` string (``""`` when none), ``STATUS_CODE`` int (0 when none)
  and ``STATUS_RESULT`` one of ``wait``, ``in_progress``, ``success``, ``error``.
* The SIP engine writes the row whenever the outcome changes, so the row is the truth: the
  core's step of copying the controller's answer back into the row has nothing to do here.
"""

from __future__ import annotations

from datetime import datetime

from trunkline.domain.dates import zone
from trunkline.domain.lines import RegistrationState, SipLine
from trunkline.methods.voximplant_sip import RIGHT, SCOPE, id_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result


def last_updated(timestamp: float | None, timezone: str) -> str:
    moment = datetime.fromtimestamp(int(timestamp or 0), zone(timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def status_item(line: SipLine, timezone: str) -> dict[str, object]:
    result = line.registration_result or RegistrationState.WAIT  # None: not tried yet
    return {
        "REG_ID": int(line.reg_id),
        "LAST_UPDATED": last_updated(line.registration_updated_at, timezone),
        "ERROR_MESSAGE": line.registration_error_message or "",
        "STATUS_CODE": int(line.registration_status_code or 0),
        "STATUS_RESULT": result.value,
    }


async def status(call: Call) -> Result:
    reg_id = id_param(upper_keys(call.params), "REG_ID")
    line = await call.services.lines.status(call.principal, reg_id)
    return Result(status_item(line, call.principal.portal.timezone))


def register(registry: Registry) -> None:
    registry.add("voximplant.sip.status", status, scope=SCOPE, right=RIGHT)
