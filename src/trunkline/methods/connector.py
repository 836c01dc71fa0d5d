"""``voximplant.sip.connector.status`` (``voximplant-sip.md`` §9): the portal's paid
SIP connector, as the operator set it (``trunkline portal connector``).

Rules: parameters are ignored; the caller needs the "Manage numbers - modify"
right (403 ``ACCESS_DENIED``, checked by the dispatcher); the result is not scoped by application.
``FREE_MINUTES`` is an integer, ``PAID`` a boolean, and ``PAID_DATE_END``
(ISO 8601 with the portal's UTC offset) is present only when ``PAID`` is true.
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.dates import iso_date
from trunkline.domain.principal import Right
from trunkline.rest.registry import Call, Registry, Result

SCOPE = "telephony"


async def status(call: Call) -> Result:
    connector = await call.services.apps.connector(call.principal.portal)
    result: dict[str, Any] = {"FREE_MINUTES": connector.free_minutes, "PAID": connector.paid}
    if connector.paid:
        result["PAID_DATE_END"] = iso_date(
            connector.paid_until or 0, call.principal.portal.timezone
        )
    return Result(result)


def register(registry: Registry) -> None:
    registry.add("voximplant.sip.connector.status", status, scope=SCOPE, right=Right.MODIFY_LINES)
