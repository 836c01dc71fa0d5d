"""``trunkline db upgrade``: create or migrate the database to the newest schema."""

from __future__ import annotations

import argparse
from typing import Any

from trunkline.cli.common import emit, options, settings_from
from trunkline.storage import migrate
from trunkline.storage.url import DatabaseUrl


def cmd_upgrade(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    before, after = migrate.upgrade(DatabaseUrl(settings.database_url))
    emit(
        args,
        {"from": before, "to": after},
        f"database at revision {after} (was {before or 'empty'})",
    )


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser(
        "upgrade",
        help="migrate the database to the newest schema",
        description="Create or migrate the database to the newest schema.",
    )
    options(upgrade, portal=None)
    upgrade.set_defaults(func=cmd_upgrade)
