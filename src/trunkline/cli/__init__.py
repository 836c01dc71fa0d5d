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
layer, uvicorn), so ``--help`` and completion answer in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from trunkline import __version__
from trunkline.cli import (
    apps,
    calls,
    completion,
    crm,
    database,
    docs,
    events,
    faults,
    lines,
    portals,
    requests,
    server,
    users,
    webhooks,
)
from trunkline.cli.common import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkline",
        description="A self-hosted SIP line service with the Bitrix24 voximplant.sip.* REST API.",
    )
    parser.add_argument("--version", action="version", version=f"trunkline {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    server.register(sub)
    database.register(sub)
    portals.register(sub)
    users.register(sub)
    webhooks.register(sub)
    lines.register(sub)
    apps.register(sub)
    faults.register(sub)
    requests.register(sub)
    events.register(sub)
    crm.register(sub)
    calls.register(sub)
    docs.register(sub, parser)
    completion.register(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors shown as one line: the user's to fix, not a bug of ours."""
    from trunkline.storage.driver import DatabaseOpenError
    from trunkline.storage.secrets import SecretKeyError

    return (CliError, ValueError, DatabaseOpenError, SecretKeyError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions
        completion.complete(parser)
    args = parser.parse_args(argv)
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
