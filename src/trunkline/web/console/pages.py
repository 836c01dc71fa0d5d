"""The console's pages (see the package docstring for the rules)."""

from __future__ import annotations

import hmac
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trunkline.domain.history import ladder
from trunkline.domain.portals import Portal
from trunkline.limits.names import KINDS, LIMIT_MODES, PLANS
from trunkline.storage.console import PAGE
from trunkline.web.console.base import HERE, NO_STORE, Console
from trunkline.web.console.session import COOKIE, LIFETIME, Session

LOCKOUT_SECONDS = 300
MAX_FAILURES = 5
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


def routes(c: Console) -> list[Route]:
    g = c.guarded
    base = "/console/portals/{domain}"
    return [
        Route("/console", partial(home_redirect, c)),
        Route("/console/", g(partial(home, c))),
        Route("/console/login", partial(login, c), methods=["GET", "POST"]),
        Route("/console/logout", partial(logout, c), methods=["POST"]),
        Route("/console/static/{name}", partial(static, c)),
        Route(base, g(partial(portal_page, c))),
        Route(base + "/lines/{config_id:int}", g(partial(line_page, c))),
        Route(
            base + "/lines/{config_id:int}/register",
            g(partial(register_now, c), operator=True),
            methods=["POST"],
        ),
        Route(base + "/lines/{config_id:int}/history.json", g(partial(history_json, c))),
        Route(base + "/lines/{config_id:int}/last.pcap", g(partial(history_pcap, c))),
        Route(base + "/calls", g(partial(calls_page, c))),
        Route(base + "/calls/{call_id}", g(partial(call_page, c))),
        Route(base + "/limits", g(partial(limits_page, c))),
        Route(base + "/faults", g(partial(add_fault, c), operator=True), methods=["POST"]),
        Route(
            base + "/faults/{fault_id:int}/clear",
            g(partial(clear_fault, c), operator=True),
            methods=["POST"],
        ),
        Route(base + "/state", g(partial(set_state, c), operator=True), methods=["POST"]),
        Route("/console/events", g(partial(events_page, c))),
        Route("/console/requests", g(partial(requests_page, c))),
    ]


def _start(request: Request) -> int:
    raw = request.query_params.get("start", "0")
    value = int(raw) if raw.isdigit() else 0
    return value - value % PAGE


async def _portal(c: Console, request: Request, session: Session) -> Portal | None:
    portal: Portal | None = await c.deps.console_service().portal(request.path_params["domain"])
    if portal is None or not session.sees(portal.id):
        return None
    return portal


def _missing(c: Console, request: Request, session: Session) -> Response:
    return c.render(request, "error.html", session, 404, message="No such page.")


# -- signing in -------------------------------------------------------------------------


async def home_redirect(c: Console, request: Request) -> Response:
    return RedirectResponse("/console/", status_code=307)


async def login(c: Console, request: Request) -> Response:
    portals = await c.deps.console_service().portals()
    if request.method == "GET":
        return c.render(request, "login.html", None, portals=portals)
    address = request.client.host if request.client else "-"
    now = c.now()
    recent = [t for t in c.failures.get(address, []) if t > now - LOCKOUT_SECONDS]
    c.failures[address] = recent
    if len(recent) >= MAX_FAILURES:
        return c.render(
            request, "login.html", None, 429, portals=portals,
            error="Too many failed attempts. Try again in a few minutes.",
        )  # fmt: skip
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    session: Session | None = None
    expires = int(now) + LIFETIME
    token = c.deps.settings.operator_token
    if fields.get("token"):
        if token and hmac.compare_digest(fields["token"].encode(), token.encode()):
            session = Session("op", 0, 0, expires)
    else:
        admin = await c.deps.console_service().sign_in(
            fields.get("portal", ""), fields.get("login", ""), fields.get("password", "")
        )
        if admin is not None:
            session = Session("admin", admin.portal_id, admin.user_id, expires)
    if session is None:
        c.failures[address].append(now)
        return c.render(
            request, "login.html", None, 401, portals=portals,
            error="Wrong token, or wrong login or password.",
        )  # fmt: skip
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        COOKIE, c.sessions.issue(session), max_age=LIFETIME, httponly=True, samesite="strict",
        path="/console",
    )  # fmt: skip
    return response


async def logout(c: Console, request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


async def static(c: Console, request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


# -- portals and lines ------------------------------------------------------------------


async def home(c: Console, request: Request, session: Session) -> Response:
    service = c.deps.console_service()
    portals = [p for p in await service.portals() if session.sees(p.id)]
    if not session.operator and len(portals) == 1:
        return RedirectResponse(f"/console/portals/{portals[0].domain}", status_code=303)
    counts = await service.reads.portal_counts()
    return c.render(request, "portals.html", session, portals=portals, counts=counts)


async def portal_page(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    reads = c.deps.console_service().reads
    now = c.now()
    lines = await reads.lines(portal.id, _start(request), now)
    phones = await reads.phones(portal.id, now)
    return c.render(request, "portal.html", session, portal=portal, page=lines, phones=phones)


async def line_page(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    config_id = request.path_params["config_id"]
    now = c.now()
    line = await c.deps.console_service().reads.line(portal.id, config_id, now)
    if line is None:
        return _missing(c, request, session)
    registrations = c.deps.registration_service()
    history = await registrations.history(portal.id, config_id, limit=20)
    bindings = await registrations.bindings(portal.id, config_id)
    live = [b for b in bindings if b.expires_at > now]
    ladders = [(entry, ladder(entry)) for entry in history.entries]
    return c.render(
        request, "line.html", session, portal=portal, line=line, history=history,
        ladders=ladders, bindings=live, now=now, engine=c.deps.engine is not None,
    )  # fmt: skip


async def history_json(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    config_id = request.path_params["config_id"]
    page = await c.deps.registration_service().history(
        portal.id, config_id, limit=500, offset=_start(request)
    )
    body = {"portal": portal.domain, "config_id": config_id, "total": page.total,
            "entries": [e.to_json() for e in page.entries]}  # fmt: skip
    return JSONResponse(body, headers=NO_STORE)


async def history_pcap(c: Console, request: Request, session: Session) -> Response:
    from trunkline.domain.pcap import pcap_bytes

    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    config_id = request.path_params["config_id"]
    last = await c.deps.registration_service().last_transaction(portal.id, config_id)
    if last is None:
        return _missing(c, request, session)
    name = f"line-{config_id}-{last.entry_id}.pcap"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(
        pcap_bytes(last.messages), media_type="application/vnd.tcpdump.pcap", headers=headers
    )


async def register_now(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    config_id = request.path_params["config_id"]
    engine = c.deps.engine
    if engine is not None:
        engine.supervisor.refresh((portal.id, config_id))
    return RedirectResponse(f"/console/portals/{portal.domain}/lines/{config_id}", status_code=303)


# -- calls, events, requests ------------------------------------------------------------


async def calls_page(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    reads = c.deps.console_service().reads
    page = await reads.calls(portal.id, _start(request))
    live = await reads.live_calls(portal.id)
    return c.render(request, "calls.html", session, portal=portal, page=page, live=live)


async def call_page(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    reads = c.deps.console_service().reads
    call = await reads.call(portal.id, request.path_params["call_id"])
    if call is None:
        return _missing(c, request, session)
    since = float(call["started_at"]) - 1
    until = None if call.get("duration") is None else since + float(call["duration"]) + 120
    events = await reads.deliveries(portal.id, 0, since=since, until=until, call_events=True)
    return c.render(request, "call.html", session, portal=portal, call=call, events=events)


async def events_page(c: Console, request: Request, session: Session) -> Response:
    service = c.deps.console_service()
    portal_id = None if session.operator else session.portal_id
    domain = request.query_params.get("portal")
    if domain and session.operator:
        found = await service.portal(domain)
        portal_id = found.id if found is not None else -1
    page = await service.reads.deliveries(portal_id, _start(request))
    portals = {p.id: p.domain for p in await service.portals()}
    return c.render(request, "events.html", session, page=page, portals=portals, domain=domain)


async def requests_page(c: Console, request: Request, session: Session) -> Response:
    service = c.deps.console_service()
    domain: str | None = request.query_params.get("portal") or None
    if not session.operator:
        own = [p for p in await service.portals() if p.id == session.portal_id]
        domain = own[0].domain if own else "-"
    journal = c.deps.journal_service()
    if journal.writer is not None:
        await journal.writer.flush()  # this worker's pending rows
    page = await service.reads.requests(domain, _start(request))
    extra = f"&portal={domain}" if domain else ""
    return c.render(request, "requests.html", session, page=page, domain=domain, extra=extra)


# -- faults and portal states -----------------------------------------------------------


async def limits_page(
    c: Console, request: Request, session: Session, error: str = "", status: int = 200
) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    control = c.deps.control_service()
    faults = [f for f in await control.faults() if f.portal_id in (None, portal.id)]
    state = await control.state(portal)
    return c.render(
        request, "limits.html", session, status, portal=portal, faults=faults, state=state,
        kinds=KINDS, plans=PLANS, modes=LIMIT_MODES, methods=c.deps.method_names(), error=error,
    )  # fmt: skip


def _back(portal: Portal) -> Response:
    return RedirectResponse(f"/console/portals/{portal.domain}/limits", status_code=303)


async def add_fault(c: Console, request: Request, session: Session) -> Response:
    from trunkline.limits.faults import FaultError

    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    def number(name: str) -> Any:
        text = form.get(name, "").strip()
        if not text:
            return None
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text  # the validator names it

    try:
        await c.deps.control_service().add_fault(
            kind=form.get("kind"),
            method=form.get("method") or None,
            portal=portal.domain,
            count=number("count"),
            share=number("share"),
            latency_ms=number("latency_ms"),
            known_methods=c.deps.method_names(),
        )
    except FaultError as exc:
        return await limits_page(c, request, session, error=str(exc), status=400)
    await c.deps.control.refresh()
    return _back(portal)


async def clear_fault(c: Console, request: Request, session: Session) -> Response:
    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    control = c.deps.control_service()
    fault_id = request.path_params["fault_id"]
    if any(f.id == fault_id and f.portal_id in (None, portal.id) for f in await control.faults()):
        await control.clear_faults(fault_id)
        await c.deps.control.refresh()
    return _back(portal)


async def set_state(c: Console, request: Request, session: Session) -> Response:
    from trunkline.limits.states import StateError

    portal = await _portal(c, request, session)
    if portal is None:
        return _missing(c, request, session)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        await c.deps.control_service().set_state(
            portal,
            plan=form.get("plan", "standard"),
            limits=form.get("limits", "default"),
            blocked=form.get("blocked") == "on",
            closed=form.get("closed") == "on",
        )
    except StateError as exc:
        return await limits_page(c, request, session, error=str(exc), status=400)
    await c.deps.control.refresh()
    return _back(portal)


__all__ = ["NO_STORE", "routes"]
