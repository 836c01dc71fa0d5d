"""``trunkline app create|list|install|restrict|uninstall|delete``: OAuth applications.

    trunkline app create --title "My app" --scope telephony --redirect-uri https://app/cb
    trunkline app create --redirect-uri https://app/cb --install --user 1    # all three steps
    trunkline app install local.xxx.yyy --portal example.bitrix24.com --user 1 --json
    trunkline app restrict local.xxx.yyy --portal example.bitrix24.com --user 2 --user 3
    trunkline app uninstall local.xxx.yyy --portal example.bitrix24.com
    trunkline app delete local.xxx.yyy

A client secret is printed once, by ``app create``; ``app install`` prints the
tokens as the ONAPPINSTALL event carries them, then waits (bounded) for the
event's delivery, which it reports on stderr. The endpoints in the tokens are the
running server's URL (``--public-url`` wins). ``app create --install --user N`` also
installs the app on the portal and, when user N has no password yet, gives them one
(printed once), then prints the sign-in URL: the first OAuth run in one command.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import (
    PORTAL_HELP,
    CliError,
    Context,
    emit,
    options,
    run,
    scopes,
    table,
)

if TYPE_CHECKING:
    from trunkline.domain.portals import Application, Installation, Portal
    from trunkline.events.delivery import Delivery


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


# -- app ----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> None:
    wanted = scopes(args.scope or [])
    if args.install and args.user is None:
        raise CliError("--install needs --user: the user who installs the app and signs in")

    async def work(ctx: Context) -> dict[str, Any]:
        created = await ctx.apps.create_app(
            kind=args.kind,
            title=args.title,
            scopes=wanted,
            handler_url=args.handler_url,
            redirect_uri=args.redirect_uri,
            code=args.code,
        )
        row = {**_app_row(created.app), "client_secret": created.client_secret}
        if args.install:
            row["install"] = await _install_and_sign_in(ctx, created.app, args.user)
        return row

    row = run(args, work)
    deliveries = row["install"].pop("deliveries") if "install" in row else []
    text = [
        f"application {row['client_id']} created",
        f"  client_id:     {row['client_id']}",
        f"  client_secret: {row['client_secret']}   (shown once)",
    ]
    install = row.get("install")
    if install:
        text.append(f"  installed on {install['portal']} by user {install['user_id']}")
        if install["password"]:
            text.append(f"  sign-in: {install['login']} / {install['password']}   (shown once)")
        else:
            text.append(f"  sign-in: {install['login']} (with the password already set)")
        if install["sign_in_url"]:
            text.append(f"  open: {install['sign_in_url']}")
        else:
            text.append("  no --redirect-uri: the sign-in page needs one to send the code to")
    emit(args, row, "\n".join(text))
    _report(deliveries, "ONAPPINSTALL")


async def _install_and_sign_in(ctx: Context, app: Application, user_id: int) -> dict[str, Any]:
    """``app create --install``: install for the user, give them a password if they have
    none, and build the sign-in URL."""
    from urllib.parse import urlencode

    from trunkline.auth.passwords import new_password

    portal = await ctx.portal()
    base = await ctx.base_url()
    installed = await ctx.apps.install(portal, app.client_id, user_id, base)
    password = None
    if await ctx.store.accounts.password_hash(portal.id, user_id) is None:
        password = new_password()
        await ctx.apps.set_password(portal, str(user_id), password)
    query = urlencode({"client_id": app.client_id, "state": "trunkline"})
    return {
        "portal": portal.domain,
        "user_id": user_id,
        "login": installed.user.login,
        "password": password,
        "sign_in_url": f"{base}/oauth/authorize/?{query}" if app.redirect_uri else None,
        "auth": installed.auth,
        "deliveries": await ctx.apps.drain_events(),
    }


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> list[dict[str, Any]]:
        if not args.portal:
            return [_app_row(app) for app in await ctx.apps.list_apps()]
        portal = await ctx.portal()
        pairs = await ctx.apps.installations(portal)
        return [{**_app_row(app), **_install_row(i, portal, app.client_id)} for i, app in pairs]

    rows = run(args, work)
    columns = ["client_id", "title", "scopes", "redirect_uri"]
    if args.portal:
        columns.append("state")
    shown_rows = [{**r, "state": "active" if r.get("active") else "uninstalled"} for r in rows]
    emit(args, rows, table(shown_rows, columns, "(no applications)"))


def cmd_install(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> None:
        portal = await ctx.portal()
        installed = await ctx.apps.install(portal, args.client_id, args.user, await ctx.base_url())
        # The install is stored: show the tokens now, then wait for the event.
        emit(
            args,
            installed.auth,
            "\n".join(f"auth[{key}]={value}" for key, value in installed.auth.items()),
        )
        sys.stdout.flush()
        _report(await ctx.apps.drain_events(), "ONAPPINSTALL")

    run(args, work)


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


def cmd_restrict(args: argparse.Namespace) -> None:
    users = [] if args.everyone else list(args.user or [])
    if not users and not args.everyone:
        raise CliError("name the users with --user (repeatable), or lift the limit with --everyone")

    async def work(ctx: Context) -> dict[str, Any]:
        portal = await ctx.portal()
        installation = await ctx.apps.restrict(portal, args.client_id, users)
        return _install_row(installation, portal, args.client_id)

    row = run(args, work)
    who = ", ".join(str(u) for u in row["allowed_users"]) or "every user"
    emit(args, row, f"{args.client_id} on {row['portal']}: {who}")


def cmd_uninstall(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> None:
        portal = await ctx.portal()
        installation = await ctx.apps.uninstall(
            portal, args.client_id, clean=args.clean, base=await ctx.base_url()
        )
        row = _install_row(installation, portal, args.client_id)
        emit(args, row, f"{args.client_id} uninstalled from {row['portal']}")
        sys.stdout.flush()
        _report(await ctx.apps.drain_events(), "ONAPPUNINSTALL")

    run(args, work)


def cmd_delete(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> tuple[Application, int]:
        return await ctx.apps.delete_app(args.client_id)

    app, installs = run(args, work)
    emit(
        args,
        {"client_id": app.client_id, "deleted": True, "installs": installs},
        f"application {app.client_id} deleted (with {installs} install(s) and their tokens)",
    )


# -- parser -------------------------------------------------------------------------


def register(sub: Any) -> None:
    app = sub.add_parser("app", help="OAuth applications").add_subparsers(
        dest="app_command", required=True
    )
    create = app.add_parser(
        "create",
        help="register an application and print its client_id and secret",
        description="Register an OAuth application; its secret is shown once, stored hashed.",
    )
    options(create, portal=None)
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
    create.add_argument(
        "--install",
        action="store_true",
        help="also install it on --portal for --user, give that user a password if they "
        "have none, and print the sign-in URL",
    )
    create.add_argument("--user", type=int, help="with --install: the installing user's id")
    create.add_argument("--portal", help=f"with --install: {PORTAL_HELP}")
    create.add_argument("--public-url", help="base URL of the endpoints and the sign-in URL")
    create.set_defaults(func=cmd_create)

    listing = app.add_parser(
        "list",
        help="list applications",
        description="List applications (with --portal: its installs).",
    )
    options(listing, portal="only the applications installed on this portal")
    listing.set_defaults(func=cmd_list)

    install = app.add_parser(
        "install",
        help="install an application on a portal and print the install event's tokens",
        description="Install an application for a user of a portal; prints the auth[...] "
        "fields of ONAPPINSTALL and POSTs the event to the handler URL.",
    )
    options(install)
    install.add_argument("client_id")
    install.add_argument("--user", type=int, required=True, help="the installing user's id")
    install.add_argument("--public-url", help="base URL of the endpoints in the tokens")
    install.set_defaults(func=cmd_install)

    restrict = app.add_parser(
        "restrict",
        help="let only some users of a portal use an application",
        description="Limit an installed application to the given users (others get "
        "user_access_error); --everyone lifts the limit.",
    )
    options(restrict)
    restrict.add_argument("client_id")
    restrict.add_argument("--user", type=int, action="append", help="a user id (repeatable)")
    restrict.add_argument("--everyone", action="store_true", help="every user may use it")
    restrict.set_defaults(func=cmd_restrict)

    uninstall = app.add_parser(
        "uninstall",
        help="uninstall an application from a portal",
        description="Uninstall: its tokens then answer APPLICATION_NOT_FOUND, and its handler "
        "URL gets ONAPPUNINSTALL.",
    )
    options(uninstall)
    uninstall.add_argument("client_id")
    uninstall.add_argument(
        "--clean",
        action="store_true",
        help='the user chose "delete the application data" (ONAPPUNINSTALL data[CLEAN]=1)',
    )
    uninstall.add_argument("--public-url", help="base URL the event's endpoints are built on")
    uninstall.set_defaults(func=cmd_uninstall)

    delete = app.add_parser(
        "delete",
        help="delete an application with its installs and tokens",
        description="Delete an application's registration with every install, code and "
        "token (they answer as unknown from then on). No event is sent: run `app uninstall` "
        "first if the handler should hear of it.",
    )
    options(delete, portal=None)
    delete.add_argument("client_id")
    delete.set_defaults(func=cmd_delete)
