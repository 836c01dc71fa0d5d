"""``trunkline requests``: the request journal (every REST call and batch command), as
``GET /operator/requests`` shows it, read from the database; ``--follow`` keeps printing
new rows (the server writes them every ``journal_flush_ms``)."""

from __future__ import annotations

import argparse
from typing import Any

from trunkline.cli.common import CliError, Context, emit, options, run, table

COLUMNS = ("id", "time", "portal", "principal", "method", "status", "error", "ms")


def cmd_requests(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from dataclasses import replace

    from trunkline.services.journal import JournalError, JournalService, journal_filter

    query = {
        "portal": args.portal,
        "method": args.method,
        "status": args.status,
        "since": args.since,
        "error": args.error,
        "batch": True if args.batch else None,
    }

    async def work(ctx: Context) -> list[dict[str, Any]]:
        journal = JournalService(ctx.store.journal)
        try:
            where = journal_filter(query)
        except JournalError as exc:
            raise CliError(str(exc)) from None
        found = await journal.rows(where, args.limit)
        if not args.follow:
            return found
        last = found[-1]["id"] if found else 0
        show(found, header=True)
        header = not found
        while True:  # until Ctrl-C
            await asyncio.sleep(args.interval)
            new = await journal.rows(replace(where, after=last), 1000)
            if new:
                show(new, header=header)
                header = False
                last = new[-1]["id"]

    def show(found: list[dict[str, Any]], *, header: bool) -> None:
        if args.json:
            for row in found:
                print(json.dumps(row, ensure_ascii=False), flush=True)
            return
        text = table(found, COLUMNS, "")
        if text:
            print(text if header else text.split("\n", 1)[1], flush=True)

    try:
        found = run(args, work)
    except KeyboardInterrupt:
        return 0
    emit(args, found, table(found, COLUMNS, "no requests recorded"))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "requests",
        help="show the request journal: every REST call and batch command",
        description="Show the request journal, oldest first: portal, caller (webhook:<id> "
        "or app:<client_id>), method, HTTP status, error code and milliseconds of every REST "
        "call and every batch command (--json adds the parameters, secrets masked).",
    )
    options(parser, portal="only calls to this portal")
    parser.add_argument("--method", help="only this method")
    parser.add_argument("--status", help="only this HTTP status")
    parser.add_argument("--error", help="only this error code")
    parser.add_argument("--since", help="only calls since (seconds since the epoch or ISO 8601)")
    parser.add_argument("--batch", action="store_true", help="only batch commands")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many (1000)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new calls")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between reads with --follow"
    )
    parser.set_defaults(func=cmd_requests)
