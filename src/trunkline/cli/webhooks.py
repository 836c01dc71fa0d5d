"""``trunkline webhook create|list|disable|enable|delete``.

    trunkline webhook create --user 1 --scope telephony --expires-in 86400
    trunkline webhook list [--portal example.bitrix24.com]
    trunkline webhook disable 3      # calls with its code get INVALID_CREDENTIALS
    trunkline webhook enable 3
    trunkline webhook delete 3

They write to the database that every worker shares. A running server sees the change
on its next call: its cached authentication answers are checked against the
database's change counter on every call (``storage/accounts.py`` ``webhook_with_owner``).
A code is shown once, by ``create``; it is stored only as a hash, so ``list`` cannot
show it. The URL ``create`` prints is the running server's (``--public-url`` wins).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import Context, emit, options, run, scopes, table, webhook_url

if TYPE_CHECKING:
    from trunkline.domain.portals import Webhook
    from trunkline.services.accounts import CreatedWebhook


def _row(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "user_id": hook.user_id,
        "title": hook.title,
        "scopes": list(hook.scopes),
        "active": hook.active,
        "expires_at": hook.expires_at,
    }


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    import datetime

    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(timespec="seconds")


def cmd_create(args: argparse.Namespace) -> None:
    wanted = scopes(args.scope or [])

    async def work(ctx: Context) -> tuple[CreatedWebhook, float | None, str]:
        expires = ctx.clock.now() + args.expires_in if args.expires_in else None
        created = await ctx.accounts.create_webhook(
            await ctx.portal(), args.user, wanted, title=args.title, expires_at=expires
        )
        return created, expires, await ctx.base_url()

    created, expires, base = run(args, work)
    url = webhook_url(base, created.user.user_id, created.code)
    emit(
        args,
        {
            "id": created.webhook.id,
            "url": url,
            "user_id": created.user.user_id,
            "code": created.code,
            "scopes": wanted,
            "expires_at": expires,
        },
        url,
    )


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> list[Webhook]:
        return await ctx.accounts.webhooks(await ctx.portal())

    hooks = run(args, work)
    shown = [
        {**_row(h), "state": "active" if h.active else "disabled", "expires": _when(h.expires_at)}
        for h in hooks
    ]
    columns = ["id", "user_id", "state", "scopes", "expires", "title"]
    emit(args, [_row(h) for h in hooks], table(shown, columns, "(no webhooks)"))


def cmd_set_active(args: argparse.Namespace) -> None:
    active = args.webhook_command == "enable"

    async def work(ctx: Context) -> Webhook:
        hook = await ctx.accounts.webhook(await ctx.portal(), args.id)
        await ctx.accounts.set_webhook_active(hook, active)
        return hook

    hook = run(args, work)
    state = "enabled" if active else "disabled"
    emit(args, {**_row(hook), "active": active}, f"webhook {hook.id} {state}")


def cmd_delete(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> Webhook:
        hook = await ctx.accounts.webhook(await ctx.portal(), args.id)
        await ctx.accounts.delete_webhook(hook)
        return hook

    hook = run(args, work)
    emit(args, {"id": hook.id, "deleted": True}, f"webhook {hook.id} deleted")


def register(sub: Any) -> None:
    webhook = sub.add_parser("webhook", help="incoming webhooks").add_subparsers(
        dest="webhook_command", required=True
    )
    create = webhook.add_parser(
        "create",
        help="create an incoming webhook and print its URL",
        description="Create an incoming webhook; its code is shown once and stored only as a hash.",
    )
    options(create)
    create.add_argument("--user", type=int, required=True, help="the user the webhook acts as")
    create.add_argument(
        "--scope",
        action="append",
        help="scope(s), repeatable or comma-separated (default telephony)",
    )
    create.add_argument("--title", default="", help="a note for the operator")
    create.add_argument("--expires-in", type=int, help="seconds until the webhook expires")
    create.add_argument("--public-url", help="base URL printed in the webhook URL")
    create.set_defaults(func=cmd_create)

    listing = webhook.add_parser(
        "list",
        help="list a portal's incoming webhooks",
        description="List a portal's incoming webhooks (codes are stored as hashes only).",
    )
    options(listing)
    listing.set_defaults(func=cmd_list)
    for name, text, func in (
        ("disable", "stop accepting a webhook's code (INVALID_CREDENTIALS)", cmd_set_active),
        ("enable", "accept a disabled webhook's code again", cmd_set_active),
        ("delete", "delete a webhook for good", cmd_delete),
    ):
        command = webhook.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        options(command)
        command.add_argument("id", type=int, help="the webhook's id (see `webhook list`)")
        command.set_defaults(func=func)
