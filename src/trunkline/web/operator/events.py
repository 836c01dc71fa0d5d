"""Operator endpoints of outbound events (``services/events.py``, ``docs/events.md``).

    GET  /operator/events?portal=&event=&outcome=&app=&handler=&after=&limit=
                                 the delivery journal: with ``after`` (a journal id) the
                                 lines above it, oldest first; else the newest ``limit``
                                 (1..10000, default 100), oldest first
    POST /operator/events/fire   {"portal", "event", "data", "user_id", "app"} raises any
                                 event with that payload -> {"queued": n, "after": id}
    POST /operator/events/wait   {"event", "count", "timeout", "portal", "outcome",
                                 "after"} waits until ``count`` deliveries of ``event``
                                 ended with ``outcome`` (default delivered) after journal
                                 id ``after`` (default 0) -> {"count": n}; 408 ``timeout``
                                 when ``timeout`` seconds (default 10, at most 300) pass

``portal`` is a domain (default: every portal for reads, the first portal for ``fire``);
``app`` a client id (``fire``: only that app's handlers get the event).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.domain.events import JournalQuery
from trunkline.domain.portals import Portal
from trunkline.services.events import EventService, journal_row
from trunkline.web.operator.base import OperatorApi, OperatorError

QUERY_FIELDS = ("portal", "event", "outcome", "app", "handler", "after", "limit")
OUTCOMES = ("delivered", "failed", "refused")
MAX_WAIT = 300.0


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route("/operator/events", api.guarded(partial(journal, api)), methods=["GET"]),
        Route("/operator/events/fire", api.guarded(partial(fire, api)), methods=["POST"]),
        Route("/operator/events/wait", api.guarded(partial(wait, api)), methods=["POST"]),
    ]


def _bad(text: str) -> OperatorError:
    return OperatorError(400, "invalid_request", text)


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise _bad(f"{name} must be {low:g} to {high:g}, got {value!r}")
    return number


async def _portal(api: OperatorApi, domain: Any, *, first: bool = False) -> Portal | None:
    if domain in (None, ""):
        if not first:
            return None
    elif not isinstance(domain, str):
        raise _bad("portal must be a domain")
    portal = await api.services().accounts.portal(domain or None)
    if portal is None:
        raise OperatorError(404, "not_found", f"no portal {domain!r}" if domain else "no portal")
    return portal


async def _portal_id(api: OperatorApi, domain: Any) -> int | None:
    portal = await _portal(api, domain)
    return None if portal is None else portal.id


def _events(api: OperatorApi) -> EventService:
    return api.services().events


async def journal(api: OperatorApi, request: Request) -> Response:
    query = dict(request.query_params)
    unknown = sorted(set(query) - set(QUERY_FIELDS))
    if unknown:
        raise _bad(f"unknown parameter {unknown[0]} (known: {', '.join(QUERY_FIELDS)})")
    if query.get("outcome") and query["outcome"] not in OUTCOMES:
        raise _bad(f"outcome must be one of {', '.join(OUTCOMES)}")
    limit = int(_number(query.get("limit", "100"), "limit", 1, 10000))
    after = int(_number(query["after"], "after", 0, 2**62)) if "after" in query else None
    found = await _events(api).journal(
        JournalQuery(
            portal_id=await _portal_id(api, query.get("portal")),
            event=query["event"].upper() if query.get("event") else None,
            outcome=query.get("outcome") or None,
            app_id=query.get("app") or None,
            handler=query.get("handler") or None,
            after=after,
            limit=limit,
        )
    )
    if after is None:
        found.reverse()  # the newest lines, shown oldest first
    return JSONResponse({"events": [journal_row(e) for e in found]})


async def fire(api: OperatorApi, request: Request) -> Response:
    body = await api.json(request)
    unknown = sorted(set(body) - {"portal", "event", "data", "user_id", "app"})
    if unknown:
        raise _bad(f"unknown field {unknown[0]}")
    event = body.get("event")
    if not isinstance(event, str) or not event.strip():
        raise _bad("event must be an event name")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise _bad("data must be a JSON object")
    user_id = body.get("user_id", 0)
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 0:
        raise _bad("user_id must be a user id (0: no user)")
    portal = await _portal(api, body.get("portal"), first=True)
    assert portal is not None
    install_id = None
    if body.get("app") is not None:
        install_id = await _install_id(api, portal, body["app"])
    events = _events(api)
    after = await events.last_journal_id()
    queued = await events.fire(
        portal.id, event.strip(), data, user_id=user_id, install_id=install_id
    )
    return JSONResponse({"queued": queued, "after": after})


async def _install_id(api: OperatorApi, portal: Portal, client_id: Any) -> int:
    if not isinstance(client_id, str):
        raise _bad("app must be a client id")
    found = None
    for installation, app in await api.services().apps.installations(portal):
        if app.client_id == client_id:
            found = installation.id
    if found is None:
        raise OperatorError(404, "not_found", f"{client_id} is not installed on that portal")
    return found


async def wait(api: OperatorApi, request: Request) -> Response:
    body = await api.json(request)
    unknown = sorted(set(body) - {"event", "count", "timeout", "portal", "outcome", "after"})
    if unknown:
        raise _bad(f"unknown field {unknown[0]}")
    event = body.get("event")
    if not isinstance(event, str) or not event.strip():
        raise _bad("event must be an event name")
    count = int(_number(body.get("count", 1), "count", 1, 1_000_000))
    timeout = _number(body.get("timeout", 10), "timeout", 0, MAX_WAIT)
    outcome = body.get("outcome", "delivered")
    if outcome not in OUTCOMES:
        raise _bad(f"outcome must be one of {', '.join(OUTCOMES)}")
    after = int(_number(body.get("after", 0), "after", 0, 2**62))
    portal_id = await _portal_id(api, body.get("portal"))
    done, found = await _events(api).wait(
        event.strip(), count, timeout=timeout, portal_id=portal_id, outcome=outcome, after=after
    )
    if not done:
        raise OperatorError(
            408,
            "timeout",
            f"{found} of {count} {event.strip().upper()} {outcome} within {timeout:g} s",
        )
    return JSONResponse({"count": found})
