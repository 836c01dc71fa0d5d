"""The ``trunkline`` command: one module per command group, shared helpers in ``common``.

    serve, engine          server.py     the HTTP server (and SIP engine); the engine alone,
                                         engine status
    db ...                 database.py   upgrade, status, reset
    portal ...             portals.py    create, list, delete, connector, state
    user ...               users.py      create, list, show, password
    webhook ...            webhooks.py   create, list, disable, enable, delete
    line ...               lines.py      list, show, add, delete, set
    app ...                apps.py       create, list, install, restrict, uninstall, delete
    fault ...              faults.py     add, list, clear (locally or through --server)
    crm ...                crm.py        add, import, list (the minimal CRM of telephony)
    call ...               calls.py      simulate, advance, list, outcome (the call simulator
                                         of the running server)
                           clicks.py     call click, call callback (app events, offline)
    event ...              events.py     log [--follow], fire (the delivery journal; any event)
    docs ...               docs.py       settings, methods, cli (the generated docs/)
    completion             completion.py bash, zsh and fish completion (argcomplete)

Every command reads the same settings (``TRUNKLINE_*`` variables, then flags);
``--json`` prints machine-readable output for scripts and tests. ``docs/cli.md`` is
generated from the commands' ``--help`` (``trunkline docs cli``).

Errors: a mistake of the user's (a bad setting, a database that cannot be opened, a name
that is taken) is one line, ``trunkline: <what> (<why>)``, and exit status 2; ``--debug``
adds the traceback. Building the parser imports no heavy module (the store, the web
layer, uvicorn), so ``--help`` and completion answer in a few tens of milliseconds. A
command's run builds only its own group's parser (``GROUPS``: ``trunkline serve`` imports
``server.py`` and what it uses, not the other groups); ``--help``, an unknown command,
``docs`` and completion build them all.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from trunkline import __version__
from trunkline.cli.common import CliError

# Each command and the module of ``trunkline.cli`` that registers it, in --help's order.
GROUPS = {
    "serve": "server",
    "engine": "server",
    "db": "database",
    "portal": "portals",
    "user": "users",
    "webhook": "webhooks",
    "line": "lines",
    "app": "apps",
    "fault": "faults",
    "requests": "requests",
    "event": "events",
    "crm": "crm",
    "call": "calls",
    "docs": "docs",
    "completion": "completion",
}
_WHOLE = ("docs", "completion")  # they read the whole parser


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``trunkline`` parser: every command, or only ``command``'s group."""
    parser = argparse.ArgumentParser(
        prog="trunkline",
        description="A self-hosted SIP line service with the Bitrix24 voximplant.sip.* REST API.",
    )
    parser.add_argument("--version", action="version", version=f"trunkline {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    groups = dict.fromkeys(GROUPS.values()) if command is None else [GROUPS[command]]
    for name in groups:
        module = importlib.import_module(f"trunkline.cli.{name}")
        if name == "docs":
            module.register(sub, parser)
        else:
            module.register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs when only its group need be parsed, else None."""
    # The options before a command (--debug, --version, --help) take no value.
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    if first not in GROUPS or first in _WHOLE or "_ARGCOMPLETE" in os.environ:
        return None
    return first


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors shown as one line: the user's to fix, not a bug of ours."""
    from trunkline.storage.driver import DatabaseOpenError
    from trunkline.storage.secrets import SecretKeyError

    return (CliError, ValueError, DatabaseOpenError, SecretKeyError)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(words))
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions
        from trunkline.cli import completion

        completion.complete(parser)
    args = parser.parse_args(words)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug or not isinstance(exc, user_errors()):
            raise
        print(f"trunkline: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)
