"""``trunkline line history ID [--phone] [--json] [--limit N] [--offset N] [--pcap FILE]``.

Prints a line's registration history, newest first: each change of state with the SIP
transaction behind it as a text ladder (``domain/history.py``), or the entries as JSON.
``--pcap FILE`` also writes the newest transaction as a pcap file Wireshark opens
(``domain/pcap.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run

if TYPE_CHECKING:
    from trunkline.domain.history import HistoryEntry
    from trunkline.services.registrations import HistoryPage


def cmd_history(args: argparse.Namespace) -> None:
    from trunkline.services.registrations import RegistrationService

    phone = args.phone

    async def work(ctx: Context) -> tuple[str, HistoryPage, HistoryEntry | None]:
        portal = await ctx.portal()
        if phone:
            if await ctx.store.accounts.get_user(portal.id, args.id) is None:
                raise CliError(f"portal {portal.domain} has no user {args.id}")
        else:
            lines = await ctx.store.lines.all_lines(portal.id)
            if not any(line.config_id == args.id for line in lines):
                raise CliError(f"portal {portal.domain} has no line {args.id}")
        service = RegistrationService(ctx.store.history, ctx.store.registrations)
        try:
            page = await service.history(
                portal.id, args.id, limit=args.limit, offset=args.offset, phone=phone
            )
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        last = None
        if args.pcap:
            last = await service.last_transaction(portal.id, args.id, phone=phone)
        return portal.domain, page, last

    from trunkline.domain.history import ladder

    domain, page, last = run(args, work)
    if args.pcap:
        if last is None:
            what = "user {}'s phone" if phone else "line {}"
            raise CliError(f"{what.format(args.id)} has no SIP transaction in its history")
        from trunkline.domain.pcap import pcap_bytes

        Path(args.pcap).write_bytes(pcap_bytes(last.messages))
    data: dict[str, Any] = {
        "portal": domain,
        ("user_id" if phone else "config_id"): args.id,
        "total": page.total,
        "entries": [entry.to_json() for entry in page.entries],
    }
    subject = f"user {args.id}'s phone" if phone else f"line {args.id}"
    text = [f"{subject} of {domain}: {page.total} changes kept"]
    text.extend(ladder(entry) for entry in page.entries)
    if args.pcap:
        text.append(f"pcap of the transaction of {last.change if last else '-'}: {args.pcap}")
    emit(args, data, "\n\n".join(text))


def add_parser(line: Any) -> None:
    history = line.add_parser(
        "history",
        help="show a line's registration history with the SIP messages behind each change",
        description="Show a line's registration history, newest first: each change of state "
        "(time, from -> to, status code, reason) with its SIP transaction as a ladder "
        "(request and response start lines and headers; digest secrets masked, bodies "
        "dropped). --pcap writes the newest transaction as a pcap file for Wireshark.",
    )
    options(history)
    history.add_argument("id", type=int, help="the line's CONFIG_ID (the USER_ID with --phone)")
    history.add_argument(
        "--phone", action="store_true", help="the history of a user's SIP phone (phone<ID>)"
    )
    history.add_argument("--limit", type=int, default=20, help="entries to show (default 20)")
    history.add_argument("--offset", type=int, default=0, help="entries to skip (newest first)")
    history.add_argument("--pcap", metavar="FILE", help="write the newest transaction as pcap")
    history.set_defaults(func=cmd_history)
