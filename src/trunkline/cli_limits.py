"""The ``trunkline fault ...`` and ``trunkline portal state`` commands, and serve's limit flags.

    trunkline fault add --kind query-limit --method voximplant.sip.get --count 2
    trunkline fault add --kind latency --latency-ms 300 --share 0.5 --portal example.bitrix24.com
    trunkline fault list
    trunkline fault clear [--id 3]
    trunkline portal state --portal example.bitrix24.com --plan enterprise --limits on
    trunkline portal state --block | --unblock | --close | --reopen
    trunkline portal state --hold webhooks --hold app:local.abc --release webhook:3

Both write to the database, which every worker shares; running workers pick the
change up within ``control_poll_ms``. ``fault`` can instead talk to a running
server's operator endpoint (``--server URL``, token from ``--token`` or
``TRUNKLINE_OPERATOR_TOKEN``), which applies the change at once on the worker
that answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from trunkline.cli import CliError, _common, _emit, _portal, _settings, _with_store
from trunkline.control import ControlService
from trunkline.limits.faults import KINDS, Fault, FaultError
from trunkline.limits.states import LIMIT_MODES, PLANS, PortalState, StateError
from trunkline.storage.store import Store

# -- serve ----------------------------------------------------------------------


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--limits",
        action="store_true",
        help="enforce the request-rate and operating-time limits on every portal",
    )
    serve.add_argument("--redis-url", help="Redis for limit state shared by every worker")
    serve.add_argument("--operator-token", help="bearer token of the /operator/ endpoints")


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "redis_url": getattr(args, "redis_url", None),
        "operator_token": getattr(args, "operator_token", None),
    }
    if getattr(args, "limits", None) is True:  # serve --limits (portal state's is a string)
        overrides["limits"] = True
    return overrides


def worker_environment(settings: Any) -> list[tuple[str, str]]:
    """The settings ``serve`` hands its workers through the environment."""
    return [
        ("LIMITS", "1" if settings.limits else "0"),
        ("REDIS_URL", settings.redis_url),
        ("OPERATOR_TOKEN", settings.operator_token),
    ]


# -- faults ---------------------------------------------------------------------


def _fault_text(fault: Fault, domains: dict[int, str]) -> str:
    where = "every portal" if fault.portal_id is None else domains.get(fault.portal_id, "?")
    what = fault.kind + (f" {fault.latency_ms} ms" if fault.kind == "latency" else "")
    how = []
    if fault.remaining is not None:
        how.append(f"{fault.remaining} call(s) left")
    if fault.share is not None:
        how.append(f"share {fault.share:g}")
    return f"{fault.id}\t{what}\t{fault.method or 'every method'}\t{where}\t{', '.join(how)}"


def _operator(args: argparse.Namespace, verb: str, path: str, body: Any = None) -> Any:
    token = args.token or _settings(args).operator_token
    if not token:
        raise CliError("--server needs --token (or TRUNKLINE_OPERATOR_TOKEN)")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        args.server.rstrip("/") + path,
        data=data,
        method=verb,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error_description", "")
        except ValueError:
            detail = ""
        raise CliError(f"{args.server}: HTTP {exc.code} {detail}".rstrip()) from exc
    except OSError as exc:
        raise CliError(f"cannot reach {args.server}: {exc}") from exc


def cmd_fault_add(args: argparse.Namespace) -> None:
    spec = {
        "kind": args.kind,
        "method": args.method,
        "portal": args.portal,
        "count": args.count,
        "share": args.share,
        "latency_ms": args.latency_ms,
    }
    if args.server:
        body = {k: v for k, v in spec.items() if v is not None}
        data = _operator(args, "POST", "/operator/faults", body)["fault"]
        _emit(args, data, f"fault {data['id']} added on {args.server}")
        return
    from trunkline.app import build_registry

    known = [m.name for m in build_registry()]

    async def work(store: Store) -> Fault:
        try:
            return await ControlService(store).add_fault(**spec, known_methods=known)
        except FaultError as exc:
            raise CliError(str(exc)) from exc

    fault = asyncio.run(_with_store(_settings(args), work))
    _emit(args, fault.describe(), f"fault {fault.id} added ({fault.kind})")


def cmd_fault_list(args: argparse.Namespace) -> None:
    if args.server:
        rows = _operator(args, "GET", "/operator/faults")["faults"]
        _emit(args, rows, "\n".join(json.dumps(r) for r in rows) or "(no faults)")
        return

    async def work(store: Store) -> tuple[list[Fault], dict[int, str]]:
        domains = {p.id: p.domain for p in await store.list_portals()}
        return await ControlService(store).faults(), domains

    faults, domains = asyncio.run(_with_store(_settings(args), work))
    text = "\n".join(_fault_text(f, domains) for f in faults) or "(no faults)"
    _emit(args, [f.describe() for f in faults], text)


def cmd_fault_clear(args: argparse.Namespace) -> None:
    if args.id is not None and args.id < 1:
        raise CliError(f"--id must be a fault id (1 or more), got {args.id}")
    if args.server:
        path = "/operator/faults" + ("" if args.id is None else f"/{args.id}")
        cleared = _operator(args, "DELETE", path)["cleared"]
    else:

        async def work(store: Store) -> int:
            return await ControlService(store).clear_faults(args.id)

        cleared = asyncio.run(_with_store(_settings(args), work))
        if args.id is not None and not cleared:
            raise CliError(f"no fault {args.id}")
    _emit(args, {"cleared": cleared}, f"{cleared} fault(s) cleared")


# -- portal state ---------------------------------------------------------------


def cmd_portal_state(args: argparse.Namespace) -> None:
    changes: dict[str, Any] = {
        "plan": args.plan,
        "limits": args.limits,
        "blocked": args.blocked,
        "closed": args.closed,
        "hold": args.hold,
        "release": args.release,
    }

    async def work(store: Store) -> tuple[str, PortalState]:
        portal = await _portal(store, args.portal)
        service = ControlService(store)
        if all(v is None for v in changes.values()):
            return portal.domain, await service.state(portal)
        try:
            return portal.domain, await service.set_state(portal, **changes)
        except StateError as exc:
            raise CliError(str(exc)) from exc

    domain, state = asyncio.run(_with_store(_settings(args), work))
    data = {"portal": domain, **state.describe()}
    text = ", ".join(f"{k}: {v}" for k, v in data.items())
    _emit(args, data, text)


# -- parser ---------------------------------------------------------------------


def register(sub: Any, *, portal_commands: Any) -> None:
    """Add these commands to the ``trunkline`` parser (called from ``cli.build_parser``)."""
    fault = sub.add_parser(
        "fault", help="inject faults for testing clients (503, 429, 500, 401, latency, drop)"
    ).add_subparsers(dest="fault_command", required=True)

    def remote(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--server", help="a running server's base URL (operator endpoint)")
        parser.add_argument("--token", help="operator token (default TRUNKLINE_OPERATOR_TOKEN)")

    add = fault.add_parser(
        "add",
        help="make calls of a method/portal fail",
        description="Make the next --count calls, or a --share of calls, of a method and "
        "portal answer an error, wait, or lose their connection. Kinds: " + ", ".join(KINDS),
    )
    _common(add)
    remote(add)
    add.add_argument("--kind", required=True, help="one of: " + ", ".join(KINDS))
    add.add_argument("--method", help="method name (default: every method)")
    add.add_argument("--portal", help="portal domain (default: every portal)")
    add.add_argument("--count", type=int, help="only the next N matching calls")
    add.add_argument("--share", type=float, help="this share of matching calls (0 < s <= 1)")
    add.add_argument("--latency-ms", type=int, help="delay of a latency fault")
    add.set_defaults(func=cmd_fault_add)

    listing = fault.add_parser("list", help="list faults", description="List injected faults.")
    _common(listing)
    remote(listing)
    listing.set_defaults(func=cmd_fault_list)

    clear = fault.add_parser(
        "clear", help="remove faults", description="Remove every fault, or one (--id)."
    )
    _common(clear)
    remote(clear)
    clear.add_argument("--id", type=int, help="only this fault")
    clear.set_defaults(func=cmd_fault_clear)

    state = portal_commands.add_parser(
        "state",
        help="show or set a portal's plan, limits, block, closed state and holds",
        description="Show a portal's state, or change it: --plan standard|enterprise|free "
        "(free: REST refused with ACCESS_DENIED), --limits on|off|default, --block "
        "(OVERLOAD_LIMIT), --close (PORTAL_DELETED), --hold webhooks|apps|webhook:<id>|"
        "app:<client_id> (OVERLOAD_LIMIT for those callers).",
    )
    _common(state)
    state.add_argument("--portal", help="portal domain (default: the first portal)")
    state.add_argument("--plan", choices=PLANS, help="the portal's plan")
    state.add_argument("--limits", choices=LIMIT_MODES, help="limits for this portal")
    block = state.add_mutually_exclusive_group()
    block.add_argument("--block", dest="blocked", action="store_const", const=True)
    block.add_argument("--unblock", dest="blocked", action="store_const", const=False)
    closing = state.add_mutually_exclusive_group()
    closing.add_argument("--close", dest="closed", action="store_const", const=True)
    closing.add_argument("--reopen", dest="closed", action="store_const", const=False)
    state.add_argument("--hold", action="append", help="put callers on hold (repeatable)")
    state.add_argument(
        "--release", action="append", help="release callers from hold (repeatable; all)"
    )
    state.set_defaults(func=cmd_portal_state)
