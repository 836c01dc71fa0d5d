"""The ``trunkline app ...``, ``user password`` and ``portal connector`` commands.

    trunkline app create --title "My app" --scope telephony --redirect-uri https://app/cb
    trunkline app install local.xxx.yyy --portal example.bitrix24.com --user 1 --json
    trunkline app restrict local.xxx.yyy --portal example.bitrix24.com --user 2 --user 3
    trunkline app uninstall local.xxx.yyy --portal example.bitrix24.com
    trunkline user password admin --portal example.bitrix24.com --password-stdin
    trunkline portal connector --portal example.bitrix24.com --paid --paid-until 2026-12-31

A client secret is printed once, by ``app create``; ``app install`` prints the
tokens as the ONAPPINSTALL event carries them, then waits (bounded) for the
event's delivery, which it reports on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

from trunkline.applications import AppError, AppService
from trunkline.auth.events import Delivery
from trunkline.cli import (
    CliError,
    _common,
    _emit,
    _portal,
    _scopes,
    _settings,
    _with_store,
    base_url,
)
from trunkline.domain.portals import Application, Connector, Installation, Portal
from trunkline.settings import Settings
from trunkline.storage.store import Store


def _apps(store: Store, settings: Settings) -> AppService:
    return AppService(store, settings, clock=time.time)


def _app_row(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "client_id": app.client_id,
        "kind": app.kind,
        "title": app.title,
        "code": app.code,
        "status": app.status,
        "scopes": list(app.scopes),
        "handler_url": app.handler_url,
        "redirect_uri": app.redirect_uri,
    }


def _install_row(installation: Installation, portal: Portal, client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "portal": portal.domain,
        "active": installation.active,
        "allowed_users": list(installation.allowed_users),
    }


def _run(args: argparse.Namespace, work: Any) -> Any:
    try:
        return asyncio.run(_with_store(_settings(args), work))
    except AppError as exc:
        raise CliError(str(exc)) from exc


# -- app ----------------------------------------------------------------------------


def cmd_app_create(args: argparse.Namespace) -> None:
    settings = _settings(args)
    scopes = _scopes(args.scope or [])

    async def work(store: Store) -> Any:
        return await _apps(store, settings).create_app(
            kind=args.kind,
            title=args.title,
            scopes=scopes,
            handler_url=args.handler_url,
            redirect_uri=args.redirect_uri,
            code=args.code,
        )

    created = _run(args, work)
    row = {**_app_row(created.app), "client_secret": created.client_secret}
    _emit(
        args,
        row,
        f"application {created.app.client_id} created\n"
        f"  client_id:     {created.app.client_id}\n"
        f"  client_secret: {created.client_secret}   (shown once)",
    )


def cmd_app_list(args: argparse.Namespace) -> None:
    settings = _settings(args)

    async def work(store: Store) -> Any:
        service = _apps(store, settings)
        if not args.portal:
            return [_app_row(app) for app in await service.list_apps()]
        portal = await _portal(store, args.portal)
        pairs = await service.repo.list_installations(portal.id)
        return [{**_app_row(app), **_install_row(i, portal, app.client_id)} for i, app in pairs]

    rows = _run(args, work)
    text = "\n".join(
        f"{r['client_id']}\t{r['title']}\t{','.join(r['scopes'])}"
        + (f"\t{'active' if r['active'] else 'uninstalled'}" if "active" in r else "")
        for r in rows
    )
    _emit(args, rows, text or "(no applications)")


def cmd_app_install(args: argparse.Namespace) -> None:
    settings = _settings(args)

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        service = _apps(store, settings)
        installed = await service.install(portal, args.client_id, args.user, base_url(settings))
        # The install is stored: show the tokens now, then wait for the event.
        _emit(
            args,
            installed.auth,
            "\n".join(f"auth[{key}]={value}" for key, value in installed.auth.items()),
        )
        sys.stdout.flush()
        _report(await service.drain_events(), "ONAPPINSTALL")

    _run(args, work)


def _report(deliveries: list[Delivery], event: str) -> None:
    for delivery in deliveries:
        if delivery.delivered:
            print(f"{event} delivered to {delivery.url}", file=sys.stderr)
        else:
            print(
                f"{event} not delivered to {delivery.url} after {delivery.attempts}"
                f" attempt(s): {delivery.error}",
                file=sys.stderr,
            )


def cmd_app_restrict(args: argparse.Namespace) -> None:
    settings = _settings(args)
    users = [] if args.everyone else list(args.user or [])
    if not users and not args.everyone:
        raise CliError("name the users with --user (repeatable), or lift the limit with --everyone")

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        installation = await _apps(store, settings).restrict(portal, args.client_id, users)
        return _install_row(installation, portal, args.client_id)

    row = _run(args, work)
    who = ", ".join(str(u) for u in row["allowed_users"]) or "every user"
    _emit(args, row, f"{args.client_id} on {row['portal']}: {who}")


def cmd_app_uninstall(args: argparse.Namespace) -> None:
    settings = _settings(args)

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        service = _apps(store, settings)
        installation = await service.uninstall(
            portal, args.client_id, clean=args.clean, base=base_url(settings)
        )
        row = _install_row(installation, portal, args.client_id)
        _emit(args, row, f"{args.client_id} uninstalled from {row['portal']}")
        sys.stdout.flush()
        _report(await service.drain_events(), "ONAPPUNINSTALL")

    _run(args, work)


# -- user password, portal connector ---------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise CliError("the passwords differ")
    return first


def cmd_user_password(args: argparse.Namespace) -> None:
    settings = _settings(args)
    password = _read_password(args)

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        return await _apps(store, settings).set_password(portal, args.user, password)

    user = _run(args, work)
    _emit(
        args,
        {"user_id": user.user_id, "login": user.login, "password_set": True},
        f"password of user {user.user_id} ({user.login}) set",
    )


def parse_when(text: str) -> float:
    """``2026-12-31`` (midnight UTC) or an ISO 8601 date-time (UTC when it has no offset)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"not a date: {text!r} (use 2026-12-31 or 2026-12-31T00:00:00+03:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _connector_row(connector: Connector) -> dict[str, Any]:
    until = connector.paid_until
    return {
        "free_minutes": connector.free_minutes,
        "paid": connector.paid,
        "paid_until": None if until is None else datetime.fromtimestamp(until, UTC).isoformat(),
    }


def cmd_portal_connector(args: argparse.Namespace) -> None:
    settings = _settings(args)
    paid = True if args.paid else False if args.unpaid else None
    until = parse_when(args.paid_until) if args.paid_until else None

    async def work(store: Store) -> Any:
        portal = await _portal(store, args.portal)
        service = _apps(store, settings)
        if args.free_minutes is None and paid is None and until is None:
            return await service.connector(portal)
        if paid is True and until is None and not (await service.connector(portal)).paid_until:
            raise CliError("a paid connector needs --paid-until")
        return await service.set_connector(
            portal, free_minutes=args.free_minutes, paid=paid, paid_until=until
        )

    row = _connector_row(_run(args, work))
    text = f"free minutes: {row['free_minutes']}, paid: {'yes' if row['paid'] else 'no'}"
    if row["paid"]:
        text += f", until {row['paid_until']}"
    _emit(args, row, text)


# -- parser -------------------------------------------------------------------------


def register(sub: Any, *, portal_commands: Any, user_commands: Any) -> None:
    """Add these commands to the ``trunkline`` parser (called from ``cli.build_parser``)."""
    app = sub.add_parser("app", help="OAuth applications").add_subparsers(
        dest="app_command", required=True
    )
    create = app.add_parser(
        "create",
        help="register an application and print its client_id and secret",
        description="Register an OAuth application; its secret is shown once, stored hashed.",
    )
    _common(create)
    create.add_argument(
        "--kind",
        choices=["local", "market"],
        default="local",
        help="local.<hex>.<hex> (default) or app.<hex>.<hex> client_id",
    )
    create.add_argument("--title", default="", help="shown on the sign-in page")
    create.add_argument(
        "--scope",
        action="append",
        help="scope(s), repeatable or comma-separated (default telephony)",
    )
    create.add_argument("--handler-url", default="", help="where ONAPPINSTALL is POSTed")
    create.add_argument("--redirect-uri", default="", help="where sign-in redirects with a code")
    create.add_argument("--code", default="", help="app.info CODE (default: the client_id)")
    create.set_defaults(func=cmd_app_create)

    listing = app.add_parser(
        "list",
        help="list applications",
        description="List applications (with --portal: its installs).",
    )
    _common(listing)
    listing.add_argument("--portal", help="only the applications installed on this portal")
    listing.set_defaults(func=cmd_app_list)

    install = app.add_parser(
        "install",
        help="install an application on a portal and print the install event's tokens",
        description="Install an application for a user of a portal; prints the auth[...] "
        "fields of ONAPPINSTALL and POSTs the event to the handler URL.",
    )
    _common(install)
    install.add_argument("client_id")
    install.add_argument("--portal", help="portal domain (default: the first portal)")
    install.add_argument("--user", type=int, required=True, help="the installing user's id")
    install.add_argument("--public-url", help="base URL of the endpoints in the tokens")
    install.set_defaults(func=cmd_app_install)

    restrict = app.add_parser(
        "restrict",
        help="let only some users of a portal use an application",
        description="Limit an installed application to the given users (others get "
        "user_access_error); --everyone lifts the limit.",
    )
    _common(restrict)
    restrict.add_argument("client_id")
    restrict.add_argument("--portal", help="portal domain (default: the first portal)")
    restrict.add_argument("--user", type=int, action="append", help="a user id (repeatable)")
    restrict.add_argument("--everyone", action="store_true", help="every user may use it")
    restrict.set_defaults(func=cmd_app_restrict)

    uninstall = app.add_parser(
        "uninstall",
        help="uninstall an application from a portal",
        description="Uninstall: its tokens then answer APPLICATION_NOT_FOUND, and its handler "
        "URL gets ONAPPUNINSTALL.",
    )
    _common(uninstall)
    uninstall.add_argument("client_id")
    uninstall.add_argument("--portal", help="portal domain (default: the first portal)")
    uninstall.add_argument(
        "--clean",
        action="store_true",
        help='the user chose "delete the application data" (ONAPPUNINSTALL data[CLEAN]=1)',
    )
    uninstall.add_argument("--public-url", help="base URL the event's endpoints are built on")
    uninstall.set_defaults(func=cmd_app_uninstall)

    password = user_commands.add_parser(
        "password",
        help="set the password a user signs in with",
        description="Set a user's sign-in password (stored as an argon2id hash).",
    )
    _common(password)
    password.add_argument("user", help="user id or login")
    password.add_argument("--portal", help="portal domain (default: the first portal)")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    password.set_defaults(func=cmd_user_password)

    connector = portal_commands.add_parser(
        "connector",
        help="show or set the portal's SIP connector state",
        description="Show or set what voximplant.sip.connector.status reports.",
    )
    _common(connector)
    connector.add_argument("--portal", help="portal domain (default: the first portal)")
    connector.add_argument("--free-minutes", type=int, help="FREE_MINUTES (an integer >= 0)")
    paid = connector.add_mutually_exclusive_group()
    paid.add_argument("--paid", action="store_true", help="PAID true (needs --paid-until)")
    paid.add_argument("--unpaid", action="store_true", help="PAID false")
    connector.add_argument("--paid-until", help="PAID_DATE_END: 2026-12-31 or ISO 8601")
    connector.set_defaults(func=cmd_portal_connector)
