"""``trunkline line list|show|set``.

    trunkline line list [--portal example.bitrix24.com]
    trunkline line show 3 --portal example.bitrix24.com
    trunkline line set 4 --digest sha-256

``show`` prints a cloud line's registration state, or an office line's digest
algorithm and live bindings; ``set`` opts an office line in to (or out of) a SHA-256
challenge, which a running engine picks up at its next scan.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from trunkline.cli.common import CliError, Context, emit, options, run
from trunkline.domain.lines import LineType, OfficeBinding, RegistrationState, SipLine
from trunkline.domain.portals import Portal


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
    text = "\n".join(
        f"{r['portal_id']}\t{r['config_id']}\t{r['type']}\t{r['title'] or ''}\t{r['server']}\t"
        f"{r['login']}\t{r['registration_status_code']}"
        for r in rows
    )
    emit(args, rows, text or "(no lines)")


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
    text = [f"line {line.config_id} ({line.type.value}) of {portal.domain}: {line.title or ''}"]
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
            f"  state: {data['status_result']}  code: {line.registration_status_code}"
            f"  message: {line.registration_error_message or ''}  since: {when}"
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
