"""``trunkline call click|callback``: the call simulator's events for telephony apps (the
``call`` group is ``cli/calls.py``; these two work on the database, no server needed).

    trunkline call click --portal example.bitrix24.com --user 1 --phone +79780000000 \\
        [--crm CONTACT:7] [--app local.xxx] [--line 7]
    trunkline call callback --phone +79780000000 [--text "..."] [--voice ruinternalfemale]

``click`` is a user clicking a number in a CRM card with an app as the outgoing line: the
call is registered for that app and ``ONEXTERNALCALLSTART`` is raised for it, with the
``CALL_ID`` the app then registers and finishes. ``callback`` is a visitor filling the CRM
callback form: ``ONEXTERNALCALLBACKSTART``. Both go through the events outbox, which the
running server delivers. The same is ``POST /operator/portals/{domain}/calls/click`` and
``.../calls/callback``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run

if TYPE_CHECKING:
    from trunkline.domain.calls import CrmRef
    from trunkline.services.clicks import Clicked, ClickService


def _service(ctx: Context) -> ClickService:
    from trunkline.services.calls import CallService
    from trunkline.services.clicks import ClickService
    from trunkline.services.crm import CrmService
    from trunkline.services.external_calls import ExternalCallService
    from trunkline.services.external_lines import ExternalLineService

    store, clock, settings = ctx.store, ctx.clock, ctx.settings
    events = ctx.events
    crm = CrmService(store.crm, store.accounts, clock)
    lines = ExternalLineService(store.external_lines, clock)
    calls = ExternalCallService(
        CallService(store.calls, clock, events=events), lines, store.accounts, settings, crm
    )
    return ClickService(calls, lines, ctx.apps, crm, events)


def parse_crm(text: str | None) -> CrmRef | None:
    """``CONTACT:7`` (any case) as a CRM reference; None when absent."""
    from trunkline.domain.calls import CrmRef
    from trunkline.domain.crm import crm_type

    if not text:
        return None
    kind, _, number = text.partition(":")
    found = crm_type(kind)
    if found is None or not number.strip().isdigit():
        raise CliError(f"--crm {text!r}: expected CONTACT:<id>, COMPANY:<id> or LEAD:<id>")
    return CrmRef(found, int(number))


def _answer(clicked: Clicked) -> dict[str, Any]:
    return {
        "call_id": clicked.call_id,
        "event": clicked.event,
        "app": clicked.client_id,
        "install_id": clicked.install_id,
        "data": clicked.data,
    }


def cmd_click(args: argparse.Namespace) -> None:
    from trunkline.services.clicks import ClickError

    async def work(ctx: Context) -> Clicked:
        try:
            return await _service(ctx).click(
                await ctx.portal(),
                args.user,
                args.phone,
                crm=parse_crm(args.crm),
                client_id=args.app,
                line=args.line or "",
                call_list_id=args.call_list or 0,
                mobile=args.mobile,
            )
        except ClickError as exc:
            raise CliError(str(exc)) from exc

    clicked = run(args, work)
    emit(args, _answer(clicked), f"{clicked.event} {clicked.call_id} for {clicked.client_id}")


def cmd_callback(args: argparse.Namespace) -> None:
    from trunkline.services.clicks import ClickError

    async def work(ctx: Context) -> Clicked:
        try:
            return await _service(ctx).callback(
                await ctx.portal(),
                args.phone,
                text=args.text,
                voice=args.voice,
                crm=parse_crm(args.crm),
                client_id=args.app,
                line=args.line or "",
            )
        except ClickError as exc:
            raise CliError(str(exc)) from exc

    clicked = run(args, work)
    emit(args, _answer(clicked), f"{clicked.event} for {clicked.client_id}")


def _common(parser: argparse.ArgumentParser) -> None:
    options(parser)
    parser.add_argument("--phone", required=True, help="the client's number")
    parser.add_argument("--crm", help="the CRM card: CONTACT:7, COMPANY:3 or LEAD:5")
    parser.add_argument("--app", help="client_id of the app (default: the one installed)")
    parser.add_argument("--line", help="the app's external line NUMBER")


def add_to(commands: Any) -> None:
    """Add ``click`` and ``callback`` to the ``call`` group (``cli/calls.py``)."""
    click = commands.add_parser(
        "click",
        help="a click-to-call from a CRM card (ONEXTERNALCALLSTART)",
        description="Simulate a user clicking a number: the call is registered for the "
        "app and ONEXTERNALCALLSTART is raised for it.",
    )
    _common(click)
    click.add_argument("--user", type=int, required=True, help="the user who clicks")
    click.add_argument("--call-list", type=int, help="CALL_LIST_ID")
    click.add_argument("--mobile", action="store_true", help="IS_MOBILE 1")
    click.set_defaults(func=cmd_click)
    back = commands.add_parser(
        "callback",
        help="a CRM callback form (ONEXTERNALCALLBACKSTART)",
        description="Simulate a visitor ordering a callback: ONEXTERNALCALLBACKSTART.",
    )
    _common(back)
    back.add_argument("--text", default="", help="TEXT to speak before the call")
    back.add_argument("--voice", default="", help="VOICE of the speech")
    back.set_defaults(func=cmd_callback)
