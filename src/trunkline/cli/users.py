"""``trunkline user create|list|show|password``.

    trunkline user create alice --portal example.bitrix24.com --line-modify
    trunkline user list --portal example.bitrix24.com
    trunkline user show 1 --portal example.bitrix24.com
    trunkline user password admin --portal example.bitrix24.com --password-stdin

A password is stored as an argon2id hash; ``--password-stdin`` reads the first line
of standard input, else the command asks twice on the terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run, table

if TYPE_CHECKING:
    from trunkline.domain.portals import Portal, User


def cmd_create(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> User:
        return await ctx.accounts.create_user(
            await ctx.portal(),
            args.login,
            name=args.name,
            last_name=args.last_name,
            is_admin=args.admin,
            line_modify=args.line_modify,
            user_id=args.id,
            phone_inner=args.phone_inner,
            email=args.email,
        )

    user = run(args, work)
    emit(
        args,
        {
            "user_id": user.user_id,
            "login": user.login,
            "admin": user.is_admin,
            "line_modify": user.line_modify,
            "phone_inner": user.phone_inner,
            "email": user.email,
        },
        f"user {user.user_id} ({user.login}) created",
    )


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> tuple[Portal, list[tuple[User, bool]]]:
        portal = await ctx.portal()
        return portal, await ctx.accounts.users(portal)

    portal, users = run(args, work)
    rows = [
        {
            "user_id": user.user_id,
            "login": user.login,
            "name": " ".join(part for part in (user.name, user.last_name) if part),
            "admin": user.is_admin,
            "line_modify": user.line_modify,
            "active": user.active,
            "password": has_password,
        }
        for user, has_password in users
    ]
    columns = ["user_id", "login", "name", "admin", "line_modify", "active", "password"]
    emit(args, rows, table(rows, columns, f"(no users in {portal.domain})"))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise CliError("the passwords differ")
    return first


def cmd_password(args: argparse.Namespace) -> None:
    password = _read_password(args)

    async def work(ctx: Context) -> User:
        return await ctx.apps.set_password(await ctx.portal(), args.user, password)

    user = run(args, work)
    emit(
        args,
        {"user_id": user.user_id, "login": user.login, "password_set": True},
        f"password of user {user.user_id} ({user.login}) set",
    )


def cmd_show(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> tuple[Portal, User, Any, list[Any], float]:
        from trunkline.services.lines import incoming_server

        portal = await ctx.portal()
        accounts = ctx.store.accounts
        found = None
        if args.user.isdigit():
            found = await accounts.get_user(portal.id, int(args.user))
        found = found or await accounts.user_by_login(portal.id, args.user)
        if found is None:
            raise CliError(f"portal {portal.domain} has no user {args.user}")
        telephony = ctx.store.telephony
        (phone,) = await telephony.phones(portal.id, [found.user_id])
        now = ctx.clock.now()
        bindings = await telephony.bindings(portal.id, found.user_id, now=now)
        return portal, found, (phone, incoming_server(ctx.settings)), bindings, now

    portal, user, (phone, server), bindings, now = run(args, work)
    from trunkline.domain.telephony import phone_login

    data: dict[str, Any] = {
        "portal": portal.domain,
        "user_id": user.user_id,
        "login": user.login,
        "admin": user.is_admin,
        "active": user.active,
        "inner_number": phone.inner_number,
        "phone_enabled": phone.phone_enabled,
        "sip_server": server,
        "sip_login": phone_login(user.user_id),
        "bindings": [
            {
                "contact": b.contact,
                "transport": b.transport,
                "received": f"{b.received_host}:{b.received_port}",
                "user_agent": b.user_agent,
                "expires_in": int(b.expires_at - now),
            }
            for b in bindings
        ],
    }
    text = [
        f"user {user.user_id} ({user.login}) of {portal.domain}",
        f"  SIP phone: {data['sip_login']} at {server}, enabled: {phone.phone_enabled or '-'}",
        f"  inner number: {phone.inner_number or '-'}",
    ]
    text += [
        f"  binding: {b['contact']} via {b['transport']} from {b['received']},"
        f" expires in {b['expires_in']} s"
        for b in data["bindings"]
    ] or ["  (no phone registered)"]
    emit(args, data, "\n".join(text))


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user", description="Create a portal user.")
    options(create)
    create.add_argument("login", help="the user's login")
    create.add_argument("--id", type=int, help="user id (default: the next free one)")
    create.add_argument("--name", default="", help="first name")
    create.add_argument("--last-name", default="", help="last name")
    create.add_argument("--admin", action="store_true", help="portal administrator")
    create.add_argument(
        "--phone-inner", default=None, help="inner phone number (UF_PHONE_INNER), e.g. 101"
    )
    create.add_argument("--email", default="", help="e-mail address")
    create.add_argument(
        "--line-modify",
        action="store_true",
        help='grant "Manage numbers - modify" (needed for voximplant.sip.*)',
    )
    create.set_defaults(func=cmd_create)

    listing = user.add_parser(
        "list",
        help="list a portal's users",
        description="List a portal's users, their rights, and whether each has a password.",
    )
    options(listing)
    listing.set_defaults(func=cmd_list)

    show = user.add_parser(
        "show",
        help="show a user's SIP phone and its registrations",
        description="Show a user's SIP phone (voximplant.user.get) and the bindings its phone "
        "holds at the office registrar.",
    )
    options(show)
    show.add_argument("user", help="user id or login")
    show.set_defaults(func=cmd_show)

    password = user.add_parser(
        "password",
        help="set the password a user signs in with",
        description="Set a user's sign-in password (stored as an argon2id hash).",
    )
    options(password)
    password.add_argument("user", help="user id or login")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    password.set_defaults(func=cmd_password)
