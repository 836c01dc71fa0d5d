"""A portal read back for the operator API and ``--seed``: users, webhooks, applications,
lines and CRM entities as JSON objects (no secrets: codes and secrets are stored hashed;
the builder adds them to its own answer once, when it makes them)."""

from __future__ import annotations

from typing import Any

from trunkline.domain.portals import Portal, User
from trunkline.services.accounts import AccountService
from trunkline.services.apps import AppService
from trunkline.services.crm import CrmService
from trunkline.services.lines import LineService


async def describe(
    accounts: AccountService,
    apps: AppService,
    lines: LineService,
    portal: Portal,
    crm: CrmService | None = None,
) -> dict[str, Any]:
    """Everything of a portal read back (no secrets: they are stored as hashes)."""
    users = [user_answer(user) for user, _ in await accounts.users(portal)]
    hooks = [
        {
            "id": hook.id,
            "user": hook.user_id,
            "title": hook.title,
            "scopes": list(hook.scopes),
            "active": hook.active,
            "expires_at": hook.expires_at,
        }
        for hook in await accounts.webhooks(portal)
    ]
    installed = [
        {
            "client_id": app.client_id,
            "title": app.title,
            "scopes": list(app.scopes),
            "installed": installation.active,
        }
        for installation, app in await apps.installations(portal)
    ]
    return {
        "portal": portal_answer(portal),
        "users": users,
        "webhooks": hooks,
        "apps": installed,
        "lines": [line_answer(line) for line in await lines.all(portal)],
        "crm": [] if crm is None else [crm_answer(e) for e in await crm.entities(portal)],
    }


def crm_answer(entity: Any) -> dict[str, Any]:
    return {
        "id": entity.id,
        "type": entity.type.value,
        "name": entity.name,
        "assigned_by": entity.assigned_by,
        "phones": list(entity.phones),
        "source": entity.source,
    }


def portal_answer(portal: Portal) -> dict[str, Any]:
    return {
        "domain": portal.domain,
        "title": portal.title,
        "timezone": portal.timezone,
        "member_id": portal.member_id,
    }


def user_answer(user: User) -> dict[str, Any]:
    return {
        "id": user.user_id,
        "login": user.login,
        "name": user.name,
        "last_name": user.last_name,
        "email": user.email,
        "admin": user.is_admin,
        "line_modify": user.line_modify,
        "active": user.active,
        "phone_inner": user.phone_inner,
    }


def webhook_answer(
    webhook_id: int, user_id: int, code: str, scopes: list[str], base: str
) -> dict[str, Any]:
    return {
        "id": webhook_id,
        "user": user_id,
        "code": code,
        "scopes": scopes,
        "url": f"{base.rstrip('/')}/rest/{user_id}/{code}/",
    }


def line_answer(line: Any) -> dict[str, Any]:
    """A line as the operator API shows it (the wire's field names)."""
    return {
        "CONFIG_ID": line.config_id,
        "ID": line.line_id,
        "TYPE": str(line.type),
        "TITLE": line.title,
        "SERVER": line.server,
        "LOGIN": line.login,
        "REG_ID": line.reg_id or None,
        "APP_ID": line.app_id or None,
        "INCOMING_SERVER": line.incoming_server,
        "INCOMING_LOGIN": line.incoming_login,
    }
