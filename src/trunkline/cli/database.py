"""``trunkline db upgrade|status|reset``.

    trunkline db upgrade           # create or migrate the database to the newest schema
    trunkline db status            # revision, rows per subject, the running server
    trunkline db reset --yes       # delete every row; the next `serve` seeds it again

``reset`` keeps the schema and the key file, so the seeded webhook's URL stays the same.
"""

from __future__ import annotations

import argparse
from typing import Any

from trunkline.cli.common import CliError, Context, emit, options, run, settings_from, table


def cmd_upgrade(args: argparse.Namespace) -> None:
    from trunkline.storage import migrate
    from trunkline.storage.url import DatabaseUrl

    settings = settings_from(args)
    before, after = migrate.upgrade(DatabaseUrl(settings.database_url))
    emit(
        args,
        {"from": before, "to": after},
        f"database at revision {after} (was {before or 'empty'})",
    )


def cmd_status(args: argparse.Namespace) -> None:
    from trunkline.storage import migrate
    from trunkline.storage.processes import ENGINE, SERVER
    from trunkline.storage.url import DatabaseUrl

    async def work(ctx: Context) -> dict[str, Any]:
        counts = await ctx.store.counts()
        servers = await ctx.store.processes.live(SERVER)
        engines = await ctx.store.processes.live(ENGINE)
        return {
            "database": DatabaseUrl(ctx.settings.database_url).redacted(),
            "backend": ctx.store.dialect,
            "revision": migrate.head_revision(),
            "rows": counts,
            "servers": [{"pid": r.pid, "node": r.node, **r.data} for r in servers],
            "engines": [{"pid": r.pid, "node": r.node} for r in engines],
        }

    data = run(args, work)  # run() migrated it: the revision is the head
    rows = [{"table": name, "rows": count} for name, count in data["rows"].items()]
    servers = ", ".join(f"{s.get('url')} (pid {s['pid']})" for s in data["servers"]) or "none"
    text = [
        f"database: {data['database']} ({data['backend']}, revision {data['revision']})",
        f"running server: {servers}",
        f"running SIP engines: {len(data['engines'])}",
        "",
        table(rows, ["table", "rows"], "(no tables)"),
    ]
    emit(args, data, "\n".join(text))


def cmd_reset(args: argparse.Namespace) -> None:
    from trunkline.storage.url import DatabaseUrl

    settings = settings_from(args)
    if not args.yes:
        raise CliError(
            f"db reset deletes every portal, user, webhook, app and line of "
            f"{DatabaseUrl(settings.database_url).redacted()}: add --yes to go ahead"
        )

    async def work(ctx: Context) -> dict[str, int]:
        return await ctx.store.clear()

    deleted = run(args, work)
    emit(
        args,
        {"deleted": deleted},
        f"deleted {sum(deleted.values())} rows; the next `trunkline serve` seeds the database",
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

    status = db.add_parser(
        "status",
        help="show the database's revision, its rows and the running server",
        description="Show the database (password hidden), its schema revision, how many rows "
        "each table holds, and the servers and SIP engines running on it.",
    )
    options(status, portal=None)
    status.set_defaults(func=cmd_status)

    reset = db.add_parser(
        "reset",
        help="delete every row (keeps the schema and the key)",
        description="Delete every portal, user, webhook, application, line and binding; the "
        "schema and the key file stay, and the next `trunkline serve` seeds the database "
        "again (with the same webhook URL). Asks for --yes.",
    )
    options(reset, portal=None)
    reset.add_argument("--yes", action="store_true", help="yes, delete everything")
    reset.set_defaults(func=cmd_reset)
