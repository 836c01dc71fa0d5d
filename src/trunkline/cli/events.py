"""``trunkline event log|fire``: the delivery journal, and any event raised by hand.

    trunkline event log --event ONVOXIMPLANTCALLEND --outcome failed --json
    trunkline event log --follow                 # keep printing new lines (Ctrl-C stops)
    trunkline event fire OnExternalCallStart --data '{"CALL_ID": "x"}' --user 1

``event log`` reads the journal from the database, as ``GET /operator/events`` shows it.
``event fire`` writes the event to the outbox of the database for every handler bound to
it (``--app``: only that app's); the running server's deliverer posts it. ``event deliver``
is a deliverer in a process of its own (``serve`` starts one with ``event_delivery=process``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trunkline.cli.common import CliError, Context, emit, options, run, table

COLUMNS = ("id", "time", "event", "app", "handler", "attempt", "outcome", "status", "reason", "ms")


def cmd_log(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from dataclasses import replace

    from trunkline.domain.events import JournalQuery
    from trunkline.services.events import journal_row

    async def work(ctx: Context) -> list[dict[str, Any]]:
        portal_id = (await ctx.portal()).id if args.portal else None
        query = JournalQuery(
            portal_id=portal_id,
            event=args.event.upper() if args.event else None,
            outcome=args.outcome,
            app_id=args.app,
            limit=args.limit,
        )
        found = [journal_row(e) for e in reversed(await ctx.events.journal(query))]
        if not args.follow:
            return found
        last = found[-1]["id"] if found else await ctx.events.last_journal_id()
        show(found, header=True)
        header = not found
        while True:  # until Ctrl-C
            await asyncio.sleep(args.interval)
            new = [journal_row(e) for e in await ctx.events.journal(replace(query, after=last))]
            if new:
                show(new, header=header)
                header = False
                last = new[-1]["id"]

    def show(found: list[dict[str, Any]], *, header: bool) -> None:
        if args.json:
            for row in found:
                print(json.dumps(row, ensure_ascii=False), flush=True)
            return
        text = table(found, list(COLUMNS), "")
        if text:
            print(text if header else text.split("\n", 1)[1], flush=True)

    try:
        found = run(args, work)
    except KeyboardInterrupt:
        return 0
    emit(args, found, table(found, list(COLUMNS), "no event deliveries journaled"))
    return 0


def cmd_fire(args: argparse.Namespace) -> None:
    import json

    try:
        data = json.loads(args.data) if args.data else {}
    except ValueError as exc:
        raise CliError(f"--data is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CliError("--data must be a JSON object")

    async def work(ctx: Context) -> dict[str, Any]:
        from trunkline.storage.processes import SERVER

        portal = await ctx.portal()
        install_id = None
        if args.app:
            install_id = (await ctx.apps.installation(portal, args.app)).id
        queued = await ctx.events.fire(
            portal.id, args.event, data, user_id=args.user, install_id=install_id
        )
        served = bool(await ctx.store.processes.live(SERVER))
        return {
            "event": args.event.upper(),
            "portal": portal.domain,
            "queued": queued,
            "served": served,
        }

    row = run(args, work)
    text = f"{row['event']} queued for {row['queued']} handler(s) on {row['portal']}"
    emit(args, row, text)
    if row["queued"] and not row["served"]:
        print(
            "no server is running: the event waits in the outbox until one starts", file=sys.stderr
        )


def cmd_deliver(args: argparse.Namespace) -> None:
    """Post the outbox until SIGTERM or SIGINT (``event_delivery=process`` starts it)."""
    import asyncio
    import signal

    from trunkline.cli.common import settings_from
    from trunkline.cli.logs import configure
    from trunkline.domain.clock import Clock
    from trunkline.events.http import FormPoster
    from trunkline.services.outbox import Deliverer
    from trunkline.web.bootstrap import open_store

    settings = settings_from(args)
    configure(settings.log_level, settings.log_format)

    async def main() -> None:
        clock = Clock()
        store = await open_store(settings, clock)
        poster = FormPoster(max_idle=settings.event_concurrency)
        ctx = Context(args, settings, store, clock)
        found: list[str] = []

        async def base() -> str:  # the server's URL, once it has recorded one
            if not found:
                found.append(await ctx.base_url())
            return found[0]

        deliverer = Deliverer(
            store.events, store.apps, store.accounts, settings, clock, post=poster.post, base=base
        )
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        deliverer.start()
        try:
            await stop.wait()
        finally:
            await deliverer.stop()
            await poster.close()
            await store.close()

    asyncio.run(main())


def register(sub: Any) -> None:
    parser = sub.add_parser("event", help="the event delivery journal; raise an event")
    verbs = parser.add_subparsers(dest="verb", required=True)

    log = verbs.add_parser(
        "log",
        help="show the delivery journal",
        description="Show the delivery journal, oldest first: every attempt to post an event "
        "to a handler (outcome, HTTP status, reason, milliseconds) and every refusal (no "
        "binding, app not installed, handler unbound).",
    )
    options(log, portal="only events of this portal")
    log.add_argument("--event", help="only this event")
    log.add_argument(
        "--outcome", choices=("delivered", "failed", "refused"), help="only this outcome"
    )
    log.add_argument("--app", help="only deliveries to this application (client id)")
    log.add_argument("--limit", type=int, default=100, help="the newest this many (100)")
    log.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    log.add_argument(
        "--interval", type=float, default=0.5, help="seconds between reads with --follow"
    )
    log.set_defaults(func=cmd_log)

    fire = verbs.add_parser(
        "fire",
        help="raise any event with a payload",
        description="Raise an event on a portal, as if the portal had: it is queued for every "
        "handler bound to it (of --app only, when given) and the running server posts it.",
    )
    fire.add_argument("event", help="the event name (any case): OnExternalCallStart, ...")
    options(fire, portal="the portal (default: the first)")
    fire.add_argument("--data", help="the event's data, a JSON object ({})")
    fire.add_argument(
        "--user", type=int, default=0, help="the user whose action it is (0: none, no token)"
    )
    fire.add_argument("--app", help="only this application's handlers (client id)")
    fire.set_defaults(func=cmd_fire)

    deliver = verbs.add_parser(
        "deliver",
        help="post the outbox to the handlers (a process of its own)",
        description="Post the events outbox to the handlers until stopped (SIGTERM): what "
        "each HTTP worker does with event_delivery=inprocess, in a process of its own; "
        "serve starts it with event_delivery=process. Several may run: no event is posted twice.",
    )
    options(deliver, json_flag=False, portal=None)
    deliver.set_defaults(func=cmd_deliver)
