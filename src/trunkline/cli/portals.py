"""``trunkline portal create|list|delete|connector|state``.

    trunkline portal create example.bitrix24.com --title Example --timezone Europe/Berlin
    trunkline portal delete example.bitrix24.com     # with its users, webhooks, lines, ...
    trunkline portal connector --portal example.bitrix24.com --paid --paid-until 2026-12-31
    trunkline portal state --portal example.bitrix24.com --plan enterprise --limits on
    trunkline portal state --block | --unblock | --close | --reopen
    trunkline portal state --hold webhooks --hold app:local.abc --release webhook:3

``state`` writes to the database, which every worker shares; running workers pick the
change up within ``control_poll_ms``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run, shown, table
from trunkline.limits.names import LIMIT_MODES, PLANS

if TYPE_CHECKING:
    from trunkline.domain.portals import Connector, Portal
    from trunkline.limits.states import PortalState

# -- create, list -------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> Portal:
        return await ctx.accounts.create_portal(
            args.domain, title=args.title, timezone=args.timezone
        )

    portal = run(args, work)
    emit(
        args,
        {"id": portal.id, "domain": portal.domain, "member_id": portal.member_id},
        f"portal {portal.domain} created (member_id {portal.member_id})",
    )


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> list[Portal]:
        return await ctx.accounts.portals()

    portals = run(args, work)
    rows = [
        {
            "id": p.id,
            "domain": p.domain,
            "member_id": p.member_id,
            "title": p.title,
            "timezone": p.timezone,
        }
        for p in portals
    ]
    columns = ["id", "domain", "member_id", "timezone", "title"]
    emit(args, rows, table(rows, columns, "(no portals)"))


def cmd_delete(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> Portal:
        portal = await ctx.accounts.portal(args.domain)
        if portal is None:
            raise CliError(f"no portal {args.domain!r} to delete")
        await ctx.accounts.delete_portal(portal)
        return portal

    portal = run(args, work)
    emit(
        args,
        {"id": portal.id, "domain": portal.domain, "deleted": True},
        f"portal {portal.domain} deleted, with its users, webhooks, apps' installs and lines",
    )


# -- connector ----------------------------------------------------------------------


def parse_when(text: str) -> float:
    """``2026-12-31`` (midnight UTC) or an ISO 8601 date-time (UTC when it has no offset)."""
    from datetime import UTC, date, datetime

    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"not a date: {text!r} (use 2026-12-31 or 2026-12-31T00:00:00+03:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _connector_row(connector: Connector) -> dict[str, Any]:
    from datetime import UTC, datetime

    until = connector.paid_until
    return {
        "free_minutes": connector.free_minutes,
        "paid": connector.paid,
        "paid_until": None if until is None else datetime.fromtimestamp(until, UTC).isoformat(),
    }


def cmd_connector(args: argparse.Namespace) -> None:
    paid = True if args.paid else False if args.unpaid else None
    until = parse_when(args.paid_until) if args.paid_until else None

    async def work(ctx: Context) -> Connector:
        portal = await ctx.portal()
        if args.free_minutes is None and paid is None and until is None:
            return await ctx.apps.connector(portal)
        if paid is True and until is None and not (await ctx.apps.connector(portal)).paid_until:
            raise CliError("a paid connector needs --paid-until")
        return await ctx.apps.set_connector(
            portal, free_minutes=args.free_minutes, paid=paid, paid_until=until
        )

    row = _connector_row(run(args, work))
    text = f"free minutes: {row['free_minutes']}, paid: {'yes' if row['paid'] else 'no'}"
    if row["paid"]:
        text += f", until {row['paid_until']}"
    emit(args, row, text)


# -- state --------------------------------------------------------------------------


def cmd_state(args: argparse.Namespace) -> None:
    changes: dict[str, Any] = {
        "plan": args.plan,
        "limits": args.limits,
        "blocked": args.blocked,
        "closed": args.closed,
        "hold": args.hold,
        "release": args.release,
    }

    async def work(ctx: Context) -> tuple[str, PortalState]:
        portal = await ctx.portal()
        if all(v is None for v in changes.values()):
            return portal.domain, await ctx.control.state(portal)
        return portal.domain, await ctx.control.set_state(portal, **changes)

    domain, state = run(args, work)
    data = {"portal": domain, **state.describe()}
    emit(args, data, ", ".join(f"{k}: {shown(v)}" for k, v in data.items()))


# -- parser -------------------------------------------------------------------------


def register(sub: Any) -> None:
    portal = sub.add_parser("portal", help="portals").add_subparsers(
        dest="portal_command", required=True
    )
    create = portal.add_parser("create", help="create a portal", description="Create a portal.")
    options(create, portal=None)
    create.add_argument("domain", help="the portal's domain, e.g. example.bitrix24.com")
    create.add_argument("--title", default="", help="display title")
    create.add_argument("--timezone", default="UTC", help="IANA zone for the time block")
    create.set_defaults(func=cmd_create)

    listing = portal.add_parser("list", help="list portals", description="List portals.")
    options(listing, portal=None)
    listing.set_defaults(func=cmd_list)

    delete = portal.add_parser(
        "delete",
        help="delete a portal and everything in it",
        description="Delete a portal with its users, webhooks, application installs, tokens, "
        "lines, bindings, state and faults. Applications stay registered.",
    )
    options(delete, portal=None)
    delete.add_argument("domain", help="the portal's domain")
    delete.set_defaults(func=cmd_delete)

    connector = portal.add_parser(
        "connector",
        help="show or set the portal's SIP connector state",
        description="Show or set what voximplant.sip.connector.status reports.",
    )
    options(connector)
    connector.add_argument("--free-minutes", type=int, help="FREE_MINUTES (an integer >= 0)")
    paid = connector.add_mutually_exclusive_group()
    paid.add_argument("--paid", action="store_true", help="PAID true (needs --paid-until)")
    paid.add_argument("--unpaid", action="store_true", help="PAID false")
    connector.add_argument("--paid-until", help="PAID_DATE_END: 2026-12-31 or ISO 8601")
    connector.set_defaults(func=cmd_connector)

    state = portal.add_parser(
        "state",
        help="show or set a portal's plan, limits, block, closed state and holds",
        description="Show a portal's state, or change it: --plan standard|enterprise|free "
        "(free: REST refused with ACCESS_DENIED), --limits on|off|default, --block "
        "(OVERLOAD_LIMIT), --close (PORTAL_DELETED), --hold webhooks|apps|webhook:<id>|"
        "app:<client_id> (OVERLOAD_LIMIT for those callers).",
    )
    options(state)
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
    state.set_defaults(func=cmd_state)
