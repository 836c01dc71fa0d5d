"""Column lists and row mappers of the account and application tables, each written once.

Every repository that reads a portal, user, webhook, application or install selects
these columns (``columns(...)``, with a table alias in joins) and builds the value with
the mapper next to them. Lines have theirs in ``storage/sql.py`` (``LINE_COLUMNS``) and
``storage/lines.py`` (``line_from_row``, which decrypts).
"""

from __future__ import annotations

from collections.abc import Sequence

from trunkline.domain.portals import Application, Installation, Portal, User, Webhook
from trunkline.storage.driver import Row

PORTAL_COLUMNS = ("id", "domain", "member_id", "title", "timezone", "language", "license")
USER_COLUMNS = (
    "portal_id",
    "user_id",
    "login",
    "name",
    "last_name",
    "is_admin",
    "line_modify",
    "active",
    "phone_inner",
    "email",
)
WEBHOOK_COLUMNS = ("id", "portal_id", "user_id", "title", "scopes", "active", "expires_at")
APP_COLUMNS = (
    "id",
    "client_id",
    "title",
    "code",
    "version",
    "status",
    "scopes",
    "handler_url",
    "redirect_uri",
)
INSTALL_COLUMNS = ("id", "app_id", "portal_id", "active", "allowed_users", "installed_at")


def columns(names: Sequence[str], alias: str = "") -> str:
    """``id, domain, ...`` or, with an alias, ``p.id, p.domain, ...``."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + name for name in names)


def split(text: str) -> tuple[str, ...]:
    """A comma-separated column (scopes, allowed users) as a tuple."""
    return tuple(part for part in text.split(",") if part)


def portal(row: Row) -> Portal:
    return Portal(*row)


def user(row: Row) -> User:
    return User(
        portal_id=row[0],
        user_id=row[1],
        login=row[2],
        name=row[3],
        last_name=row[4],
        is_admin=bool(row[5]),
        line_modify=bool(row[6]),
        active=bool(row[7]),
        phone_inner=row[8],
        email=row[9],
    )


def webhook(row: Row) -> Webhook:
    return Webhook(row[0], row[1], row[2], row[3], split(row[4]), bool(row[5]), row[6])


def app(row: Row) -> Application:
    return Application(
        id=row[0],
        client_id=row[1],
        title=row[2],
        code=row[3],
        version=int(row[4]),
        status=row[5],
        scopes=split(row[6]),
        handler_url=row[7],
        redirect_uri=row[8],
    )


def installation(row: Row) -> Installation:
    return Installation(
        id=row[0],
        app_id=row[1],
        portal_id=row[2],
        active=bool(row[3]),
        allowed_users=tuple(int(u) for u in split(row[4])),
        installed_at=float(row[5]),
    )
