"""The ``trunkline`` command: one module per command group, shared helpers in ``common``.

    serve, engine          server.py     the HTTP server (and SIP engine); the engine alone
    db upgrade             database.py   migrations
    portal ...             portals.py    create, list, connector, state
    user ...               users.py      create, password
    webhook ...            webhooks.py   create, list, disable, enable, delete
    line ...               lines.py      list, show, set
    app ...                apps.py       create, list, install, restrict, uninstall
    fault ...              faults.py     add, list, clear (locally or through --server)
    docs ...               docs.py       settings, methods, cli (the generated docs/)

Every command reads the same settings (``TRUNKLINE_*`` variables, then flags);
``--json`` prints machine-readable output for scripts and tests. ``docs/cli.md`` is
generated from the commands' ``--help`` (``trunkline docs cli``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from trunkline import __version__
from trunkline.cli import apps, database, docs, faults, lines, portals, server, users, webhooks
from trunkline.cli.common import CliError
from trunkline.storage.url import DatabaseUrlError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkline",
        description="A self-hosted SIP line service with the Bitrix24 voximplant.sip.* REST API.",
    )
    parser.add_argument("--version", action="version", version=f"trunkline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    server.register(sub)
    database.register(sub)
    portals.register(sub)
    users.register(sub)
    webhooks.register(sub)
    lines.register(sub)
    apps.register(sub)
    faults.register(sub)
    docs.register(sub, parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (CliError, DatabaseUrlError, ValueError) as exc:
        print(f"trunkline: {exc}", file=sys.stderr)
        return 2
    return 0
