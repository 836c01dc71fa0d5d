"""Operator endpoints under ``/operator/`` (never ``/rest/``), behind the operator token.

``base.py`` holds what every endpoint shares (the token check, the one error renderer,
JSON bodies); each subject is a module with a ``routes(api)`` function:

    limits.py    injected faults and portal states
    resets.py    resets of one portal or all, snapshots by name
    requests.py  the request journal: rows and counts
    clock.py     the virtual clock
    portals.py   portals and what is in them (scenario documents, users, webhooks,
                 apps, lines)
    history.py   a line's registration history and its last transaction as pcap
    crm.py       the minimal CRM of the telephony flow
    calls.py     the call simulator: calls scripted on built-in lines, the clock moved
    clicks.py    the call simulator's click-to-call and callback events of apps
    events.py    outbound events: the delivery journal, raising any event, waiting for
                 deliveries
"""

from __future__ import annotations

from starlette.routing import Route

from trunkline.web.operator import (
    calls,
    clicks,
    clock,
    crm,
    events,
    history,
    limits,
    portals,
    requests,
    resets,
)
from trunkline.web.operator.base import OperatorApi, OperatorError, error_response

SUBJECTS = (
    limits,
    resets,
    requests,
    clock,
    crm,
    clicks,
    events,
    portals,
    history,
    calls,
)  # fixed paths before portals' {part}

__all__ = ["OperatorApi", "OperatorError", "error_response", "routes"]


def routes(api: OperatorApi) -> list[Route]:
    """Every operator endpoint, subject by subject."""
    return [route for subject in SUBJECTS for route in subject.routes(api)]
