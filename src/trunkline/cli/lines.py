"""``trunkline line list|show|add|delete|set|history`` (history: ``line_history.py``).

    trunkline line list [--portal example.bitrix24.com]
    trunkline line show 3 --portal example.bitrix24.com
    trunkline line add --type cloud --server sip.example.com --login 1001 --password s3cret
    trunkline line add --type office --title "Front desk" --server pbx.local --login desk
    trunkline line delete 3
    trunkline line set 4 --digest sha-256

``show`` prints a cloud line's registration state, or an office line's digest
algorithm and live bindings; ``set`` opts an office line in to (or out of) a SHA-256
challenge, which a running engine picks up at its next scan. ``add`` and ``delete``
follow the rules of ``voximplant.sip.add`` and ``.delete`` (the same checks and
messages), as a webhook of the portal would: the line belongs to no application. A
running engine registers or unregisters the line at its next scan.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run, table

if TYPE_CHECKING:
    from trunkline.domain.lines import OfficeBinding, SipLine
    from trunkline.domain.portals import Portal
    from trunkline.domain.principal import Principal
    from trunkline.services.lines import LineService


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> list[SipLine]:
        portal_id = (await ctx.portal()).id if args.portal else None
        return await ctx.store.lines.all_lines(portal_id)

    lines = run(args, work)
    rows = [
        {
            "portal_id": line.portal_id,
            "config_id": line.config_id,
            "type": line.type.value,
            "title": line.title,
            "server": line.server,
            "login": line.login,
            "app_id": line.app_id,
            "reg_id": line.reg_id,
            "registration_status_code": line.registration_status_code,
        }
        for line in lines
    ]
    columns = ["portal_id", "config_id", "type", "title", "server", "login"]
    shown = [{**r, "status": r["registration_status_code"]} for r in rows]
    emit(args, rows, table(shown, [*columns, "status"], "(no lines)"))


def _binding_row(binding: OfficeBinding, now: float) -> dict[str, Any]:
    return {
        "contact": binding.contact,
        "received": f"{binding.received_host}:{binding.received_port}",
        "transport": binding.transport,
        "user_agent": binding.user_agent,
        "expires_in": max(0, int(binding.expires_at - now)),
        "instance": binding.instance_id,
        "reg_id": binding.reg_id,
    }


def _operator(portal: Portal, app_id: str | None = None) -> Principal:
    """The caller the CLI acts as on ``portal``: an administrator, as a webhook (or as the
    line's application, to delete an application's line)."""
    from trunkline.domain.portals import User
    from trunkline.domain.principal import WEBHOOK, Principal

    user = User(portal.id, 0, "trunkline", "Trunkline", "CLI", True, True, True)
    return Principal(portal, user, WEBHOOK, frozenset({"telephony"}), app_id or None)


def _lines(ctx: Context) -> LineService:
    from trunkline.services.lines import LineService

    return LineService(ctx.store.lines, ctx.settings)


def cmd_add(args: argparse.Namespace) -> None:
    from trunkline.services.lines import LineInput

    fields = LineInput(args.type, args.title, args.server, args.login, args.password)

    async def work(ctx: Context) -> tuple[Portal, SipLine]:
        portal = await ctx.portal()
        return portal, await _lines(ctx).add(_operator(portal), fields)

    portal, line = run(args, work)
    data: dict[str, Any] = {
        "portal": portal.domain,
        "config_id": line.config_id,
        "type": line.type.value,
        "title": line.title,
        "server": line.server,
        "login": line.login,
    }
    text = f"{line.type.value} line {line.config_id} added to {portal.domain}"
    if line.type.value == "cloud":
        data["reg_id"] = line.reg_id
        text += f" (REG_ID {line.reg_id}; it registers to {line.server} as {line.login})"
    else:
        data.update(
            incoming_server=line.incoming_server,
            incoming_login=line.incoming_login,
            incoming_password=line.incoming_password,
        )
        text += (
            f"\n  its PBX registers to {line.incoming_server} as {line.incoming_login}"
            f" with the password {line.incoming_password}"
        )
    emit(args, data, text)


def cmd_delete(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> Portal:
        portal = await ctx.portal()
        found = [x for x in await ctx.store.lines.all_lines(portal.id) if x.config_id == args.id]
        if not found:
            raise CliError(f"portal {portal.domain} has no line {args.id}")
        await _lines(ctx).delete(_operator(portal, found[0].app_id), args.id)
        return portal

    portal = run(args, work)
    emit(
        args,
        {"portal": portal.domain, "config_id": args.id, "deleted": True},
        f"line {args.id} deleted from {portal.domain}",
    )


def cmd_show(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> tuple[Portal, SipLine, list[OfficeBinding], str, float]:
        portal = await ctx.portal()
        found = [x for x in await ctx.store.lines.all_lines(portal.id) if x.config_id == args.id]
        if not found:
            raise CliError(f"portal {portal.domain} has no line {args.id}")
        line = found[0]
        registrations = ctx.store.registrations
        now = ctx.clock.now()
        bindings = await registrations.bindings(portal.id, line.config_id, now=now)
        digest = await registrations.office_algorithm(portal.id, line.config_id)
        return portal, line, bindings, digest, now

    portal, line, bindings, digest, now = run(args, work)
    data: dict[str, Any] = {
        "portal": portal.domain,
        "config_id": line.config_id,
        "type": line.type.value,
        "title": line.title,
        "server": line.server,
        "login": line.login,
    }
    from trunkline.domain.lines import LineType, RegistrationState

    text = [f"line {line.config_id} ({line.type.value}) of {portal.domain}: {line.title or '-'}"]
    if line.type is LineType.CLOUD:
        updated = line.registration_updated_at
        data.update(
            reg_id=line.reg_id,
            status_result=(line.registration_result or RegistrationState.WAIT).value,
            status_code=line.registration_status_code,
            error_message=line.registration_error_message,
            last_updated=updated,
        )
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated)) if updated else "-"
        text.append(f"  registers to {line.server} as {line.login} (REG_ID {line.reg_id})")
        text.append(
            f"  state: {data['status_result']}  code: {line.registration_status_code or '-'}"
            f"  message: {line.registration_error_message or '-'}  since: {when}"
        )
    else:
        data.update(
            incoming_server=line.incoming_server,
            incoming_login=line.incoming_login,
            digest=digest,
            bindings=[_binding_row(b, now) for b in bindings],
        )
        text.append(
            f"  office PBX logs in as {line.incoming_login} at {line.incoming_server}"
            f" (digest {digest})"
        )
        text.append(f"  live bindings: {len(bindings)}")
        text.extend(
            f"    {b.contact}  from {b.transport} {b.received_host}:{b.received_port}"
            f"  expires in {max(0, int(b.expires_at - now))} s  {b.user_agent}"
            + (f"  instance {b.instance_id} reg-id {b.reg_id}" if b.instance_id else "")
            for b in bindings
        )
    emit(args, data, "\n".join(text))


def cmd_set(args: argparse.Namespace) -> None:
    algorithm = args.digest.upper()

    async def work(ctx: Context) -> Portal:
        portal = await ctx.portal()
        registrations = ctx.store.registrations
        if not await registrations.set_office_algorithm(portal.id, args.id, algorithm):
            raise CliError(f"portal {portal.domain} has no office line {args.id}")
        return portal

    portal = run(args, work)
    data = {"portal": portal.domain, "config_id": args.id, "digest": algorithm}
    emit(args, data, f"office line {args.id} of {portal.domain}: challenged with {algorithm}")


def register(sub: Any) -> None:
    line = sub.add_parser("line", help="SIP lines").add_subparsers(
        dest="line_command", required=True
    )
    listing = line.add_parser("list", help="list SIP lines", description="List SIP lines.")
    options(listing, portal="only this portal's lines")
    listing.set_defaults(func=cmd_list)

    show = line.add_parser(
        "show",
        help="show one line: a cloud line's registration, an office line's live bindings",
        description="Show one SIP line: a cloud line's registration state, or the contacts "
        "an office PBX has registered for an office line.",
    )
    options(show)
    show.add_argument("id", type=int, help="the line's CONFIG_ID")
    show.set_defaults(func=cmd_show)

    add = line.add_parser(
        "add",
        help="add a cloud or office line (the checks of voximplant.sip.add)",
        description="Add a SIP line to a portal, with the checks and messages of "
        "voximplant.sip.add. A cloud line registers to SERVER as LOGIN; an office line gets "
        "INCOMING_SERVER, INCOMING_LOGIN and INCOMING_PASSWORD for its PBX to register with.",
    )
    options(add)
    add.add_argument(
        "--type", default="cloud", type=str.lower, choices=["cloud", "office"], help="line type"
    )
    add.add_argument("--title", help="TITLE (unique in the portal)")
    add.add_argument("--server", help="SERVER: the provider's host (cloud) or the PBX's")
    add.add_argument("--login", help="LOGIN")
    add.add_argument("--password", help="PASSWORD")
    add.set_defaults(func=cmd_add)

    delete = line.add_parser(
        "delete",
        help="delete a line (a registered cloud line unregisters)",
        description="Delete a SIP line, as voximplant.sip.delete does; a running engine "
        "unregisters a cloud line (Expires: 0) at its next scan.",
    )
    options(delete)
    delete.add_argument("id", type=int, help="the line's CONFIG_ID")
    delete.set_defaults(func=cmd_delete)

    setting = line.add_parser(
        "set",
        help="set an office line's registrar options (digest algorithm)",
        description="Set how the office registrar treats an office line. --digest sha-256 "
        "challenges its PBX with SHA-256 alone (RFC 8760); many PBXs only answer MD5, the "
        "default. A running engine picks the change up at its next scan.",
    )
    options(setting)
    setting.add_argument("id", type=int, help="the office line's CONFIG_ID")
    setting.add_argument(
        "--digest", required=True, type=str.lower, choices=["md5", "sha-256"], help="algorithm"
    )
    setting.set_defaults(func=cmd_set)

    from trunkline.cli.line_history import add_parser

    add_parser(line)
