"""The ``trunkline`` command: serve, db, portal, user, webhook, line, docs.

Every command reads the same settings (``TRUNKLINE_*`` variables, then flags);
``--json`` prints machine-readable output for scripts and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from trunkline import __version__
from trunkline.app import SEED_SCOPES, build_engine, cipher_for, engine_mode, prepare
from trunkline.domain.portals import KNOWN_SCOPES, Portal
from trunkline.service import AccountService
from trunkline.settings import Settings, settings_table
from trunkline.storage import migrate
from trunkline.storage.store import DuplicateError, Store
from trunkline.storage.url import DatabaseUrl, DatabaseUrlError


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in ("database_url", "host", "port", "workers", "public_url")
    }
    if getattr(args, "https_required", False):
        overrides["https_required"] = True
    from trunkline.cli_limits import serve_overrides

    overrides.update(serve_overrides(args))
    return Settings.from_env(**overrides)


def base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def webhook_url(settings: Settings, user_id: int, code: str) -> str:
    return f"{base_url(settings)}/rest/{user_id}/{code}/"


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[Any]]) -> Any:
    url = DatabaseUrl(settings.database_url)
    await migrate.upgrade_async(url)
    store = await Store.open(url, cipher_for(settings, url))
    try:
        return await work(store)
    finally:
        await store.close()


async def _portal(store: Store, domain: str | None) -> Portal:
    portal = await AccountService(store, Settings()).portal(domain)
    if portal is None:
        raise CliError(
            f"no portal {domain!r}" if domain else "no portal yet: run `trunkline portal create`"
        )
    return portal


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text)


# -- commands -----------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings(args)
    seeded = asyncio.run(prepare(settings))
    url = DatabaseUrl(settings.database_url)
    print(f"Trunkline {__version__}")
    print(f"  database: {url.redacted()}")
    print(f"  listening: {base_url(settings)}/rest/  (workers: {settings.workers})")
    from trunkline.cli_limits import worker_environment
    from trunkline.control import limits_summary

    for line in limits_summary(settings):
        print(f"  {line}")
    if seeded and seeded.code:
        hook = webhook_url(settings, seeded.user_id, seeded.code)
        print(f"  portal: {seeded.portal.domain}  (user {seeded.user_id} is an administrator)")
        print(f"  webhook URL: {hook}")
        print(f"  try: curl -s '{hook}voximplant.sip.get.json'")
    sys.stdout.flush()
    # Workers read their settings from the environment.
    for name, value in (
        ("DATABASE_URL", settings.database_url),
        ("HOST", settings.host),
        ("PORT", str(settings.port)),
        ("PUBLIC_URL", settings.public_url),
        ("HTTPS_REQUIRED", "1" if settings.https_required else "0"),
        ("WORKERS", str(settings.workers)),
        *worker_environment(settings),
    ):
        os.environ[f"TRUNKLINE_{name}"] = value
    engine = None
    if engine_mode(settings) == "process":
        engine = subprocess.Popen([sys.executable, "-m", "trunkline", "engine"])
        print(f"  SIP engine: process {engine.pid}")
        sys.stdout.flush()
    try:
        uvicorn.run(
            "trunkline.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            access_log=False,
            proxy_headers=True,
        )
    finally:
        if engine is not None:
            engine.terminate()
            try:
                engine.wait(15)
            except subprocess.TimeoutExpired:
                engine.kill()


def cmd_engine(args: argparse.Namespace) -> None:
    """Run only the SIP engine (cloud-line registration and the office registrar)."""
    import logging
    import signal

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def run() -> None:
        url = DatabaseUrl(settings.database_url)
        await migrate.upgrade_async(url)
        store = await Store.open(url, cipher_for(settings, url))
        try:
            engine = build_engine(settings, url, store)
            await engine.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # SIGUSR1 prints the engine's counters as one JSON line (operators, bench/sip).
            loop.add_signal_handler(
                signal.SIGUSR1, lambda: print(json.dumps(engine.describe()), flush=True)
            )
            listening = engine.registrar.addresses if engine.registrar_running else "off"
            print(
                f"SIP engine: {len(engine.supervisor.runners)} cloud lines, registrar {listening}"
            )
            sys.stdout.flush()
            await stop.wait()
            await engine.stop()
        finally:
            await store.close()

    asyncio.run(run())


def cmd_line_show(args: argparse.Namespace) -> None:
    from trunkline.storage.registrations import RegistrationStore

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        lines = [line for line in await store.all_lines(portal.id) if line.config_id == args.id]
        if not lines:
            raise CliError(f"portal {portal.domain} has no line {args.id}")
        line = lines[0]
        registrations = RegistrationStore(store)
        bindings = await registrations.bindings(portal.id, line.config_id, now=time.time())
        digest = await registrations.office_algorithm(portal.id, line.config_id)
        return portal, line, bindings, digest

    portal, line, bindings, digest = asyncio.run(_with_store(_settings(args), work))
    data: dict[str, Any] = {
        "portal": portal.domain,
        "config_id": line.config_id,
        "type": line.type.value,
        "title": line.title,
        "server": line.server,
        "login": line.login,
    }
    text = [f"line {line.config_id} ({line.type.value}) of {portal.domain}: {line.title or ''}"]
    if line.type.value == "cloud":
        updated = line.registration_updated_at
        data.update(
            reg_id=line.reg_id,
            status_result=line.registration_result or "wait",
            status_code=line.registration_status_code,
            error_message=line.registration_error_message,
            last_updated=updated,
        )
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated)) if updated else "-"
        text.append(f"  registers to {line.server} as {line.login} (REG_ID {line.reg_id})")
        text.append(
            f"  state: {data['status_result']}  code: {line.registration_status_code}"
            f"  message: {line.registration_error_message or ''}  since: {when}"
        )
    else:
        now = time.time()
        data.update(
            incoming_server=line.incoming_server,
            incoming_login=line.incoming_login,
            digest=digest,
            bindings=[
                {
                    "contact": b.contact,
                    "received": f"{b.received_host}:{b.received_port}",
                    "transport": b.transport,
                    "user_agent": b.user_agent,
                    "expires_in": max(0, int(b.expires_at - now)),
                    "instance": b.instance_id,
                    "reg_id": b.reg_id,
                }
                for b in bindings
            ],
        )
        text.append(
            f"  office PBX logs in as {line.incoming_login} at {line.incoming_server}"
            f" (digest {digest})"
        )
        text.append(f"  live bindings: {len(bindings)}")
        text.extend(
            f"    {b.contact}  from {b.transport} {b.received_host}:{b.received_port}"
            f"  expires in {max(0, int(b.expires_at - now))} s  {b.user_agent}"
            + (f"  instance {b.instance_id} reg-id {b.reg_id}" if b.instance_id else "")
            for b in bindings
        )
    _emit(args, data, "\n".join(text))


def cmd_line_set(args: argparse.Namespace) -> None:
    from trunkline.storage.registrations import RegistrationStore

    algorithm = args.digest.upper()

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        if not await RegistrationStore(store).set_office_algorithm(portal.id, args.id, algorithm):
            raise CliError(f"portal {portal.domain} has no office line {args.id}")
        return portal

    portal = asyncio.run(_with_store(_settings(args), work))
    data = {"portal": portal.domain, "config_id": args.id, "digest": algorithm}
    _emit(args, data, f"office line {args.id} of {portal.domain}: challenged with {algorithm}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    settings = _settings(args)
    before, after = migrate.upgrade(DatabaseUrl(settings.database_url))
    _emit(
        args,
        {"from": before, "to": after},
        f"database at revision {after} (was {before or 'empty'})",
    )


def cmd_portal_create(args: argparse.Namespace) -> None:
    async def work(store: Store) -> Portal:
        accounts = AccountService(store, Settings())
        try:
            return await accounts.create_portal(
                args.domain, title=args.title, timezone=args.timezone
            )
        except DuplicateError as exc:
            raise CliError(str(exc)) from exc

    portal = asyncio.run(_with_store(_settings(args), work))
    _emit(
        args,
        {"id": portal.id, "domain": portal.domain, "member_id": portal.member_id},
        f"portal {portal.domain} created (member_id {portal.member_id})",
    )


def cmd_portal_list(args: argparse.Namespace) -> None:
    portals = asyncio.run(_with_store(_settings(args), lambda store: store.list_portals()))
    rows = [
        {"id": p.id, "domain": p.domain, "member_id": p.member_id, "title": p.title}
        for p in portals
    ]
    _emit(args, rows, "\n".join(f"{p.id}\t{p.domain}\t{p.member_id}\t{p.title}" for p in portals))


def cmd_user_create(args: argparse.Namespace) -> None:
    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        try:
            return await AccountService(store, Settings()).create_user(
                portal,
                args.login,
                name=args.name,
                last_name=args.last_name,
                is_admin=args.admin,
                line_modify=args.line_modify,
                user_id=args.id,
            )
        except DuplicateError as exc:
            raise CliError(str(exc)) from exc

    user = asyncio.run(_with_store(_settings(args), work))
    _emit(
        args,
        {
            "user_id": user.user_id,
            "login": user.login,
            "admin": user.is_admin,
            "line_modify": user.line_modify,
        },
        f"user {user.user_id} ({user.login}) created",
    )


def _scopes(values: Sequence[str]) -> list[str]:
    scopes = [s.strip() for value in values for s in value.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise CliError(f"unknown scope {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    return scopes or list(SEED_SCOPES)


def cmd_webhook_create(args: argparse.Namespace) -> None:
    settings = _settings(args)
    scopes = _scopes(args.scope or [])
    expires = time.time() + args.expires_in if args.expires_in else None

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        try:
            return await AccountService(store, settings).create_webhook(
                portal, args.user, scopes, title=args.title, expires_at=expires
            )
        except LookupError as exc:
            raise CliError(str(exc.args[0])) from exc

    created = asyncio.run(_with_store(settings, work))
    url = webhook_url(settings, created.user.user_id, created.code)
    _emit(
        args,
        {
            "id": created.webhook.id,
            "url": url,
            "user_id": created.user.user_id,
            "code": created.code,
            "scopes": scopes,
            "expires_at": expires,
        },
        url,
    )


def cmd_line_list(args: argparse.Namespace) -> None:
    async def work(store: Store) -> Any:
        portal_id = (await _portal(store, args.portal)).id if args.portal else None
        return await store.all_lines(portal_id)

    lines = asyncio.run(_with_store(_settings(args), work))
    rows = [
        {
            "portal_id": line.portal_id,
            "config_id": line.config_id,
            "type": line.type.value,
            "title": line.title,
            "server": line.server,
            "login": line.login,
            "app_id": line.app_id,
            "reg_id": line.reg_id,
            "registration_status_code": line.registration_status_code,
        }
        for line in lines
    ]
    text = "\n".join(
        f"{r['portal_id']}\t{r['config_id']}\t{r['type']}\t{r['title'] or ''}\t{r['server']}\t"
        f"{r['login']}\t{r['registration_status_code']}"
        for r in rows
    )
    _emit(args, rows, text or "(no lines)")


def cmd_docs_settings(args: argparse.Namespace) -> None:
    print(SETTINGS_DOC_HEADER + settings_table(), end="")


SETTINGS_DOC_HEADER = (
    "# Settings\n\n"
    "Generated by `trunkline docs settings`; a test fails when this file and the code differ.\n"
    "Each setting is read from its environment variable; command-line flags override it.\n\n"
)

# -- parser -------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    parser.add_argument(
        "--database-url",
        help="database URL (default: TRUNKLINE_DATABASE_URL or sqlite:///trunkline.sqlite3)",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trunkline",
        description="A self-hosted SIP line service with the Bitrix24 voximplant.sip.* REST API.",
    )
    parser.add_argument("--version", action="version", version=f"trunkline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the HTTP server (migrates and seeds on first start)",
        description="Run the HTTP server. On an empty database, create the "
        "default portal, administrator user 1 and a telephony webhook, and "
        "print its URL.",
    )
    _common(serve, json_flag=False)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--public-url", help="base URL printed in webhook URLs")
    serve.add_argument(
        "--https-required",
        action="store_true",
        help="refuse webhook calls over plain HTTP, as the real service does",
    )
    from trunkline import cli_limits  # limits flags; fault and portal state commands

    cli_limits.add_serve_flags(serve)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser(
        "upgrade",
        help="migrate the database to the newest schema",
        description="Create or migrate the database to the newest schema.",
    )
    _common(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    portal = sub.add_parser("portal", help="portals").add_subparsers(
        dest="portal_command", required=True
    )
    p_create = portal.add_parser("create", help="create a portal", description="Create a portal.")
    _common(p_create)
    p_create.add_argument("domain", help="the portal's domain, e.g. example.bitrix24.com")
    p_create.add_argument("--title", default="", help="display title")
    p_create.add_argument("--timezone", default="UTC", help="IANA zone for the time block")
    p_create.set_defaults(func=cmd_portal_create)
    p_list = portal.add_parser("list", help="list portals", description="List portals.")
    _common(p_list)
    p_list.set_defaults(func=cmd_portal_list)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    u_create = user.add_parser("create", help="create a user", description="Create a portal user.")
    _common(u_create)
    u_create.add_argument("login", help="the user's login")
    u_create.add_argument("--portal", help="portal domain (default: the first portal)")
    u_create.add_argument("--id", type=int, help="user id (default: the next free one)")
    u_create.add_argument("--name", default="", help="first name")
    u_create.add_argument("--last-name", default="", help="last name")
    u_create.add_argument("--admin", action="store_true", help="portal administrator")
    u_create.add_argument(
        "--line-modify",
        action="store_true",
        help='grant "Manage numbers - modify" (needed for voximplant.sip.*)',
    )
    u_create.set_defaults(func=cmd_user_create)

    webhook = sub.add_parser("webhook", help="incoming webhooks").add_subparsers(
        dest="webhook_command", required=True
    )
    w_create = webhook.add_parser(
        "create",
        help="create an incoming webhook and print its URL",
        description="Create an incoming webhook; its code is shown once and stored only as a hash.",
    )
    _common(w_create)
    w_create.add_argument("--portal", help="portal domain (default: the first portal)")
    w_create.add_argument("--user", type=int, required=True, help="the user the webhook acts as")
    w_create.add_argument(
        "--scope",
        action="append",
        help="scope(s), repeatable or comma-separated (default telephony)",
    )
    w_create.add_argument("--title", default="", help="a note for the operator")
    w_create.add_argument("--expires-in", type=int, help="seconds until the webhook expires")
    w_create.add_argument("--public-url", help="base URL printed in the webhook URL")
    w_create.set_defaults(func=cmd_webhook_create)

    line = sub.add_parser("line", help="SIP lines").add_subparsers(
        dest="line_command", required=True
    )
    l_list = line.add_parser("list", help="list SIP lines", description="List SIP lines.")
    _common(l_list)
    l_list.add_argument("--portal", help="only this portal's lines")
    l_list.set_defaults(func=cmd_line_list)
    l_show = line.add_parser(
        "show",
        help="show one line: a cloud line's registration, an office line's live bindings",
        description="Show one SIP line: a cloud line's registration state, or the contacts "
        "an office PBX has registered for an office line.",
    )
    _common(l_show)
    l_show.add_argument("id", type=int, help="the line's CONFIG_ID")
    l_show.add_argument("--portal", help="portal domain (default: the first portal)")
    l_show.set_defaults(func=cmd_line_show)
    l_set = line.add_parser(
        "set",
        help="set an office line's registrar options (digest algorithm)",
        description="Set how the office registrar treats an office line. --digest sha-256 "
        "challenges its PBX with SHA-256 alone (RFC 8760); many PBXs only answer MD5, the "
        "default. A running engine picks the change up at its next scan.",
    )
    _common(l_set)
    l_set.add_argument("id", type=int, help="the office line's CONFIG_ID")
    l_set.add_argument("--portal", help="portal domain (default: the first portal)")
    l_set.add_argument(
        "--digest", required=True, type=str.lower, choices=["md5", "sha-256"], help="algorithm"
    )
    l_set.set_defaults(func=cmd_line_set)

    engine = sub.add_parser(
        "engine",
        help="run only the SIP engine (registrations and the office registrar)",
        description="Run the SIP engine in its own process: it keeps cloud lines registered, "
        "serves office PBXs, and picks up line changes by scanning the database.",
    )
    _common(engine, json_flag=False)
    engine.set_defaults(func=cmd_engine)

    docs = sub.add_parser("docs", help="generated documentation").add_subparsers(
        dest="docs_command", required=True
    )
    d_settings = docs.add_parser(
        "settings",
        help="print docs/settings.md",
        description="Print the settings reference (docs/settings.md).",
    )
    d_settings.set_defaults(func=cmd_docs_settings)

    from trunkline import cli_apps, cli_webhooks  # commands kept in modules of their own

    cli_apps.register(sub, portal_commands=portal, user_commands=user)
    cli_webhooks.register(webhook)
    cli_limits.register(sub, portal_commands=portal)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
