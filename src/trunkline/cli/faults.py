"""``trunkline fault add|list|clear``: injected faults for testing clients.

    trunkline fault add --kind query-limit --method voximplant.sip.get --count 2
    trunkline fault add --kind latency --latency-ms 300 --share 0.5 --portal example.bitrix24.com
    trunkline fault list
    trunkline fault clear [--id 3]

They write to the database, which every worker shares; running workers pick the
change up within ``control_poll_ms``. ``fault`` can instead talk to a running
server's operator endpoint (``--server URL``, token from ``--token`` or
``TRUNKLINE_OPERATOR_TOKEN``), which applies the change at once on the worker
that answers.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run, settings_from, table
from trunkline.limits.names import KINDS

if TYPE_CHECKING:
    from trunkline.domain.portals import Portal
    from trunkline.limits.faults import Fault

# -- faults ---------------------------------------------------------------------


def _fault_row(fault: dict[str, Any], domains: dict[int, str]) -> dict[str, Any]:
    """A fault (as ``Fault.describe`` or the operator API gives it) as a table row."""
    portal_id = fault.get("portal_id")
    kind = fault["kind"]
    how = []
    if fault.get("remaining") is not None:
        how.append(f"{fault['remaining']} call(s) left")
    if fault.get("share") is not None:
        how.append(f"share {fault['share']:g}")
    return {
        "id": fault["id"],
        "kind": kind + (f" {fault.get('latency_ms')} ms" if kind == "latency" else ""),
        "method": fault.get("method") or "every method",
        "portal": "every portal" if portal_id is None else domains.get(portal_id, portal_id),
        "applies": ", ".join(how) or "every call",
    }


_FAULT_COLUMNS = ["id", "kind", "method", "portal", "applies"]


def _operator(args: argparse.Namespace, verb: str, path: str, body: Any = None) -> Any:
    import json
    import urllib.error
    import urllib.request

    token = args.token or settings_from(args).operator_token
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
        emit(args, data, f"fault {data['id']} added on {args.server}")
        return
    from trunkline.methods.catalog import build_registry

    known = [m.name for m in build_registry()]

    async def work(ctx: Context) -> Fault:
        return await ctx.control.add_fault(**spec, known_methods=known)

    fault = run(args, work)
    emit(args, fault.describe(), f"fault {fault.id} added ({fault.kind})")


def cmd_fault_list(args: argparse.Namespace) -> None:
    if args.server:
        rows = _operator(args, "GET", "/operator/faults")["faults"]
        shown = [_fault_row(r, {}) for r in rows]
        emit(args, rows, table(shown, _FAULT_COLUMNS, "(no faults)"))
        return

    async def work(ctx: Context) -> tuple[list[Fault], list[Portal]]:
        return await ctx.control.faults(), await ctx.accounts.portals()

    faults, portals = run(args, work)
    domains = {p.id: p.domain for p in portals}
    rows = [f.describe() for f in faults]
    emit(args, rows, table([_fault_row(r, domains) for r in rows], _FAULT_COLUMNS, "(no faults)"))


def cmd_fault_clear(args: argparse.Namespace) -> None:
    if args.id is not None and args.id < 1:
        raise CliError(f"--id must be a fault id (1 or more), got {args.id}")
    if args.server:
        path = "/operator/faults" + ("" if args.id is None else f"/{args.id}")
        cleared = _operator(args, "DELETE", path)["cleared"]
    else:

        async def work(ctx: Context) -> int:
            return await ctx.control.clear_faults(args.id)

        cleared = run(args, work)
        if args.id is not None and not cleared:
            raise CliError(f"no fault {args.id}")
    emit(args, {"cleared": cleared}, f"{cleared} fault(s) cleared")


# -- parser ---------------------------------------------------------------------


def register(sub: Any) -> None:
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
    options(add, portal=None)
    remote(add)
    add.add_argument("--kind", required=True, help="one of: " + ", ".join(KINDS))
    add.add_argument("--method", help="method name (default: every method)")
    add.add_argument("--portal", help="portal domain (default: every portal)")
    add.add_argument("--count", type=int, help="only the next N matching calls")
    add.add_argument("--share", type=float, help="this share of matching calls (0 < s <= 1)")
    add.add_argument("--latency-ms", type=int, help="delay of a latency fault")
    add.set_defaults(func=cmd_fault_add)

    listing = fault.add_parser("list", help="list faults", description="List injected faults.")
    options(listing, portal=None)
    remote(listing)
    listing.set_defaults(func=cmd_fault_list)

    clear = fault.add_parser(
        "clear", help="remove faults", description="Remove every fault, or one (--id)."
    )
    options(clear, portal=None)
    remote(clear)
    clear.add_argument("--id", type=int, help="only this fault")
    clear.set_defaults(func=cmd_fault_clear)
