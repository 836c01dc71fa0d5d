"""``trunkline call simulate|advance|list|outcome``: the call simulator of a running server
(and ``call click|callback``, the app events of ``cli/clicks.py``).

    trunkline call simulate --line reg150001 --user 1 --number +15550100 --answer-after 3 \\
        --duration 60
    trunkline call simulate --line sip3 --outgoing --no-answer --ring 20
    trunkline call advance 63            # the application clock, each due step at its moment
    trunkline call list                  # the steps waiting
    trunkline call outcome --status-code 486 --no-answer   # the next built-in call's outcome

A call's steps live in the running server (its operator API, ``/operator/calls``), so these
commands talk to it: ``--server`` (default: the running ``serve`` of this database, as
``webhook create`` finds it) with ``--token`` (default ``TRUNKLINE_OPERATOR_TOKEN``).
"""

from __future__ import annotations

import argparse
from typing import Any

from trunkline.cli.clicks import add_to as add_app_events
from trunkline.cli.common import CliError, Context, emit, options, run, settings_from, table


def _server(args: argparse.Namespace) -> str:
    if args.server:
        return str(args.server).rstrip("/")

    async def work(ctx: Context) -> str:
        return await ctx.base_url()

    return run(args, work)


def operator(args: argparse.Namespace, verb: str, path: str, body: Any = None) -> Any:
    """One operator API call to the running server; its JSON (errors become CliError)."""
    import json
    import urllib.error
    import urllib.request

    token = args.token or settings_from(args).operator_token
    if not token:
        raise CliError("the operator API needs --token (or TRUNKLINE_OPERATOR_TOKEN)")
    server = _server(args)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server + path,
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
        raise CliError(f"{server}: HTTP {exc.code} {detail}".rstrip()) from exc
    except OSError as exc:
        raise CliError(f"cannot reach {server}: {exc}") from exc


def _script(args: argparse.Namespace) -> dict[str, Any]:
    script: dict[str, Any] = {}
    if args.no_answer:
        script["answer_after"] = None
    elif args.answer_after is not None:
        script["answer_after"] = args.answer_after
    for name in ("duration", "ring", "status_code", "failed_reason", "cost"):
        if getattr(args, name) is not None:
            script[name] = getattr(args, name)
    if args.currency is not None:
        script["cost_currency"] = args.currency
    if args.portal:
        script["portal"] = args.portal
    return script


def cmd_simulate(args: argparse.Namespace) -> None:
    body = {
        **_script(args),
        "line": args.line,
        "user_id": args.user,
        "number": args.number,
        "direction": "outgoing" if args.outgoing else "incoming",
    }
    started = operator(args, "POST", "/operator/calls", body)
    answered = started["answer_at"]
    when = "not answered" if answered is None else f"answered at {answered:.0f}"
    emit(args, started, f"call {started['call_id']}: {when}, ends at {started['end_at']:.0f}")


def cmd_advance(args: argparse.Namespace) -> None:
    if not 0 <= args.seconds <= 366 * 86400:
        raise CliError("seconds must be between 0 and a year")
    done = operator(args, "POST", "/operator/calls/advance", {"seconds": args.seconds})
    emit(args, done, f"clock moved {args.seconds:g} s: {done['ran']} step(s) ran")


def cmd_list(args: argparse.Namespace) -> None:
    pending = operator(args, "GET", "/operator/calls")["pending"]
    emit(args, pending, table(pending, ["call_id", "step", "due"], "(no call in progress)"))


def cmd_outcome(args: argparse.Namespace) -> None:
    queued = operator(args, "POST", "/operator/calls/outcomes", _script(args))
    emit(args, queued, f"{queued['queued']} outcome(s) queued for the next built-in calls")


def _common(parser: argparse.ArgumentParser) -> None:
    options(parser, portal="portal domain (default: the first portal)")
    parser.add_argument("--server", help="the running server's base URL")
    parser.add_argument("--token", help="operator token (default TRUNKLINE_OPERATOR_TOKEN)")


def _outcome_flags(parser: argparse.ArgumentParser) -> None:
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument("--answer-after", type=float, help="answered after N seconds")
    answer.add_argument("--no-answer", action="store_true", help="nobody answers (304)")
    parser.add_argument("--duration", type=int, help="seconds it lasts once answered")
    parser.add_argument("--ring", type=float, help="seconds an unanswered call rings")
    parser.add_argument("--status-code", help="CALL_FAILED_CODE (200, 304, 486, 603, ...)")
    parser.add_argument("--failed-reason", help="CALL_FAILED_REASON (default: the code's)")
    parser.add_argument("--cost", type=float, help="the call's cost")
    parser.add_argument("--currency", help="COST_CURRENCY")


def register(sub: Any) -> None:
    call = sub.add_parser("call", help="the call simulator").add_subparsers(
        dest="call_command", required=True
    )
    simulate = call.add_parser(
        "simulate",
        help="a call on a built-in line, scripted",
        description="An incoming call on a line to a user (or an outgoing call from the user),"
        " answered after N seconds or not, lasting M seconds, with a status code and a cost."
        " It fires OnVoximplantCallInit/Start/End and writes the statistics row.",
    )
    _common(simulate)
    simulate.add_argument("--line", required=True, help="line key (reg150001, sip3) or CONFIG_ID")
    simulate.add_argument("--user", type=int, default=1, help="the user (default 1)")
    simulate.add_argument("--number", default="+15550100", help="the client's number")
    simulate.add_argument("--outgoing", action="store_true", help="the user calls the number")
    _outcome_flags(simulate)
    simulate.set_defaults(func=cmd_simulate)

    advance = call.add_parser(
        "advance",
        help="move the application clock, running due steps",
        description="Move the server's application clock by SECONDS, stopping at each"
        " step of a simulated call to run it at its own moment.",
    )
    _common(advance)
    advance.add_argument("seconds", type=float, help="how far to move the clock")
    advance.set_defaults(func=cmd_advance)

    listing = call.add_parser("list", help="the steps of calls in progress")
    _common(listing)
    listing.set_defaults(func=cmd_list)

    outcome = call.add_parser(
        "outcome",
        help="the outcome of the next built-in call",
        description="Queue the outcome of the portal's next voximplant.callback.start or"
        " voximplant.infocall.* call (else: answered after call_answer_after s, lasting"
        " call_duration s).",
    )
    _common(outcome)
    _outcome_flags(outcome)
    outcome.set_defaults(func=cmd_outcome)
    add_app_events(call)  # click, callback: app events, straight to the database
