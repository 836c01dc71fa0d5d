"""The ``trunkline webhook list|disable|enable|delete`` commands.

    trunkline webhook list [--portal example.bitrix24.com]
    trunkline webhook disable 3      # calls with its code get INVALID_CREDENTIALS
    trunkline webhook enable 3
    trunkline webhook delete 3

They write to the database that every worker shares. A running server sees the change
on its next call: its cached authentication answers are checked against the
database's change counter on every call (``storage/store.py`` ``webhook_with_owner``).
Codes are stored only as hashes, so ``list`` cannot show them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
from typing import Any

from trunkline.cli import CliError, _common, _emit, _portal, _settings, _with_store
from trunkline.domain.portals import Webhook
from trunkline.storage.store import Store


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
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(timespec="seconds")


def cmd_list(args: argparse.Namespace) -> None:
    async def work(store: Store) -> list[Webhook]:
        portal = await _portal(store, args.portal)
        return await store.list_webhooks(portal.id)

    hooks = asyncio.run(_with_store(_settings(args), work))
    text = "\n".join(
        f"{h.id}\tuser {h.user_id}\t{'active' if h.active else 'disabled'}\t"
        f"{','.join(h.scopes)}\texpires {_when(h.expires_at)}\t{h.title}"
        for h in hooks
    )
    _emit(args, [_row(h) for h in hooks], text or "(no webhooks)")


async def _owned(store: Store, portal_name: str | None, webhook_id: int) -> Webhook:
    portal = await _portal(store, portal_name)
    for hook in await store.list_webhooks(portal.id):
        if hook.id == webhook_id:
            return hook
    raise CliError(f"portal {portal.domain} has no webhook {webhook_id}")


def cmd_set_active(args: argparse.Namespace) -> None:
    active = args.webhook_command == "enable"

    async def work(store: Store) -> Webhook:
        hook = await _owned(store, args.portal, args.id)
        await store.set_webhook_active(hook.id, active)
        return hook

    hook = asyncio.run(_with_store(_settings(args), work))
    state = "enabled" if active else "disabled"
    _emit(args, {**_row(hook), "active": active}, f"webhook {hook.id} {state}")


def cmd_delete(args: argparse.Namespace) -> None:
    async def work(store: Store) -> Webhook:
        hook = await _owned(store, args.portal, args.id)
        await store.delete_webhook(hook.id)
        return hook

    hook = asyncio.run(_with_store(_settings(args), work))
    _emit(args, {"id": hook.id, "deleted": True}, f"webhook {hook.id} deleted")


def register(webhook: Any) -> None:
    """Add the commands to the ``webhook`` subparsers of cli.build_parser."""
    w_list = webhook.add_parser(
        "list",
        help="list a portal's incoming webhooks",
        description="List a portal's incoming webhooks (codes are stored as hashes only).",
    )
    _common(w_list)
    w_list.add_argument("--portal", help="portal domain (default: the first portal)")
    w_list.set_defaults(func=cmd_list)
    for name, text, func in (
        ("disable", "stop accepting a webhook's code (INVALID_CREDENTIALS)", cmd_set_active),
        ("enable", "accept a disabled webhook's code again", cmd_set_active),
        ("delete", "delete a webhook for good", cmd_delete),
    ):
        command = webhook.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _common(command)
        command.add_argument("id", type=int, help="the webhook's id (see `webhook list`)")
        command.add_argument("--portal", help="portal domain (default: the first portal)")
        command.set_defaults(func=func)
