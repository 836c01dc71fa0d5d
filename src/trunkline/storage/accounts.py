"""The repository of accounts: portals, their users and sign-in passwords, and webhooks.

Rules kept here, where the rows are:

* Domains are stored lower-cased; a portal is found by its domain, by id, or by any of
  the host names a request carries (``portal_by_host``).
* Webhook codes are stored only as SHA-256 digests (the caller hashes); user passwords
  only as argon2id hashes (the caller hashes).
* ``webhook_with_owner`` is the hot path of every webhook call: the webhook, its user
  and its portal in one query, and on SQLite kept until the driver's change mark moves.
* A portal's inner numbers (``UF_PHONE_INNER`` of its active users) are kept together
  under the same mark when it has at most ``inner_cache_size`` of them: a registration
  asks whether the client's number is one, and a number that is nobody's needs no read.
* Every ``created_at``/``updated_at`` is the application clock's time.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from trunkline.domain.clock import Clock
from trunkline.domain.portals import Portal, User, Webhook
from trunkline.storage import rows
from trunkline.storage.driver import Driver, DuplicateError, IntegrityViolationError
from trunkline.storage.rows import PORTAL_COLUMNS, USER_COLUMNS, WEBHOOK_COLUMNS, columns

_PORTALS = f"SELECT {columns(PORTAL_COLUMNS)} FROM portals"
_USERS = f"SELECT {columns(USER_COLUMNS)} FROM users"
_WEBHOOKS = f"SELECT {columns(WEBHOOK_COLUMNS)} FROM webhooks"
_WEBHOOK_WIDTH = len(WEBHOOK_COLUMNS)
_USER_END = _WEBHOOK_WIDTH + len(USER_COLUMNS)
_WEBHOOK_OWNER_SQL = (
    f"SELECT {columns(WEBHOOK_COLUMNS, 'w')}, {columns(USER_COLUMNS, 'u')},"
    f" {columns(PORTAL_COLUMNS, 'p')} FROM webhooks w"
    " JOIN users u ON u.portal_id = w.portal_id AND u.user_id = w.user_id"
    " JOIN portals p ON p.id = w.portal_id WHERE w.code_hash = ?"
)
_INNER_NUMBERS_SQL = (
    "SELECT phone_inner, user_id FROM users WHERE portal_id = ? AND phone_inner IS NOT NULL"
    " AND active = ? ORDER BY user_id LIMIT ?"
)


class AccountRepository:
    owner_cache_size = 10_000
    inner_cache_size = 1_000  # a portal with more inner numbers reads them one at a time

    def __init__(self, driver: Driver, clock: Clock) -> None:
        self.driver = driver
        self.clock = clock
        self._owners: dict[str, tuple[object, tuple[Webhook, User, Portal] | None]] = {}
        # Users by (portal, id), under the change mark like the owners above: any write to
        # users (by any process) misses the next read.
        self._users: dict[tuple[object, ...], tuple[object, User | None]] = {}
        # Inner number -> lowest active user id, per portal, under the change mark too;
        # None: the portal has too many to keep.
        self._inner: dict[int, tuple[object, dict[str, int] | None]] = {}

    # -- portals ---------------------------------------------------------------

    async def create_portal(
        self, domain: str, *, title: str = "", timezone: str = "UTC", member_id: str | None = None
    ) -> Portal:
        member_id = member_id or secrets.token_hex(16)
        try:
            await self.driver.execute(
                "INSERT INTO portals (domain, member_id, title, timezone, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (domain.lower(), member_id, title, timezone, self.clock.now()),
            )
        except IntegrityViolationError as exc:
            raise DuplicateError(f"a portal with domain {domain!r} already exists") from exc
        portal = await self.portal_by_domain(domain)
        assert portal is not None
        return portal

    async def delete_portal(self, portal_id: int) -> bool:
        """Delete a portal; its users, webhooks, installs, lines and states cascade."""
        return await self.driver.execute("DELETE FROM portals WHERE id = ?", (portal_id,)) > 0

    async def portal_by_domain(self, domain: str) -> Portal | None:
        row = await self.driver.fetch_one(_PORTALS + " WHERE domain = ?", (domain.lower(),))
        return rows.portal(row) if row else None

    async def get_portal(self, portal_id: int) -> Portal | None:
        row = await self.driver.fetch_one(_PORTALS + " WHERE id = ?", (portal_id,))
        return rows.portal(row) if row else None

    async def list_portals(self) -> list[Portal]:
        return [rows.portal(r) for r in await self.driver.fetch_all(_PORTALS + " ORDER BY id")]

    async def portal_by_host(self, names: Sequence[str]) -> Portal | None:
        """The portal whose domain is one of ``names`` (lower-cased host forms)."""
        if not names:
            return None
        marks = ", ".join("?" for _ in names)
        row = await self.driver.fetch_one(
            _PORTALS + f" WHERE domain IN ({marks}) ORDER BY id LIMIT 1", list(names)
        )
        return rows.portal(row) if row else None

    # -- users -----------------------------------------------------------------

    async def create_user(
        self,
        portal_id: int,
        login: str,
        *,
        name: str = "",
        last_name: str = "",
        is_admin: bool = False,
        line_modify: bool = False,
        user_id: int | None = None,
        phone_inner: str | None = None,
        email: str = "",
    ) -> User:
        async with self.driver.transaction() as conn:
            if user_id is None:
                row = await conn.fetch_one(
                    "SELECT COALESCE(MAX(user_id), 0) + 1 FROM users WHERE portal_id = ?",
                    (portal_id,),
                )
                assert row is not None
                user_id = int(row[0])
            try:
                await conn.execute(
                    "INSERT INTO users (portal_id, user_id, login, name, last_name, is_admin,"
                    " line_modify, active, created_at, phone_inner, email)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        portal_id,
                        user_id,
                        login,
                        name,
                        last_name,
                        is_admin,
                        line_modify,
                        True,
                        self.clock.now(),
                        phone_inner,
                        email,
                    ),
                )
            except IntegrityViolationError as exc:
                raise DuplicateError(
                    f"user {user_id} or login {login!r} already exists in this portal"
                ) from exc
        user = await self.get_user(portal_id, user_id)
        assert user is not None
        return user

    async def get_user(self, portal_id: int, user_id: int) -> User | None:
        return await self._kept_user(
            (portal_id, user_id),
            _USERS + " WHERE portal_id = ? AND user_id = ?",
            (portal_id, user_id),
        )

    async def _kept_user(
        self, key: tuple[object, ...], sql: str, params: tuple[object, ...]
    ) -> User | None:
        mark = await self.driver.shared_change_mark()
        hit = self._users.get(key)
        if hit is not None and hit[0] == mark:
            return hit[1]
        row = await self.driver.fetch_one(sql, params)
        found = rows.user(row) if row else None
        if len(self._users) >= self.owner_cache_size:
            self._users.clear()
        self._users[key] = (mark, found)
        return found

    async def user_by_login(self, portal_id: int, login: str) -> User | None:
        row = await self.driver.fetch_one(
            _USERS + " WHERE portal_id = ? AND login = ?", (portal_id, login)
        )
        return rows.user(row) if row else None

    async def user_by_phone_inner(self, portal_id: int, phone_inner: str) -> User | None:
        """The active user whose UF_PHONE_INNER is ``phone_inner`` (lowest id first)."""
        numbers = await self._inner_numbers(portal_id)
        if numbers is not None:
            user_id = numbers.get(phone_inner)
            return None if user_id is None else await self.get_user(portal_id, user_id)
        row = await self.driver.fetch_one(
            _USERS + " WHERE portal_id = ? AND phone_inner = ? AND active = ?"
            " ORDER BY user_id LIMIT 1",
            (portal_id, phone_inner, True),
        )
        return rows.user(row) if row else None

    async def _inner_numbers(self, portal_id: int) -> dict[str, int] | None:
        """The portal's inner numbers and their (lowest-id) active users, kept while the
        change mark stays; None when there are more than ``inner_cache_size``."""
        mark = await self.driver.shared_change_mark()
        hit = self._inner.get(portal_id)
        if hit is not None and hit[0] == mark:
            return hit[1]
        found = await self.driver.fetch_all(
            _INNER_NUMBERS_SQL, (portal_id, True, self.inner_cache_size + 1)
        )
        numbers: dict[str, int] | None = None
        if len(found) <= self.inner_cache_size:
            numbers = {}
            for number, user_id in found:
                numbers.setdefault(number, int(user_id))
        if len(self._inner) >= self.owner_cache_size:
            self._inner.clear()
        self._inner[portal_id] = (mark, numbers)
        return numbers

    async def update_user(self, portal_id: int, user_id: int, changes: dict[str, object]) -> bool:
        """Set some of name, last_name, active, phone_inner, email; False: no such user."""
        allowed = ("name", "last_name", "active", "phone_inner", "email")
        sets = [f"{column} = ?" for column in changes if column in allowed]
        values = [value for column, value in changes.items() if column in allowed]
        if not sets:
            return await self.get_user(portal_id, user_id) is not None
        changed = await self.driver.execute(
            f"UPDATE users SET {', '.join(sets)} WHERE portal_id = ? AND user_id = ?",
            [*values, portal_id, user_id],
        )
        return changed > 0

    async def list_users(self, portal_id: int) -> list[User]:
        found = await self.driver.fetch_all(
            _USERS + " WHERE portal_id = ? ORDER BY user_id", (portal_id,)
        )
        return [rows.user(r) for r in found]

    async def users_with_password(self, portal_id: int) -> set[int]:
        found = await self.driver.fetch_all(
            "SELECT user_id FROM user_passwords WHERE portal_id = ?", (portal_id,)
        )
        return {int(row[0]) for row in found}

    async def password_hash(self, portal_id: int, user_id: int) -> str | None:
        row = await self.driver.fetch_one(
            "SELECT password_hash FROM user_passwords WHERE portal_id = ? AND user_id = ?",
            (portal_id, user_id),
        )
        return str(row[0]) if row else None

    async def set_password_hash(self, portal_id: int, user_id: int, password_hash: str) -> None:
        now = self.clock.now()
        async with self.driver.transaction() as conn:
            changed = await conn.execute(
                "UPDATE user_passwords SET password_hash = ?, updated_at = ?"
                " WHERE portal_id = ? AND user_id = ?",
                (password_hash, now, portal_id, user_id),
            )
            if not changed:
                await conn.execute(
                    "INSERT INTO user_passwords (portal_id, user_id, password_hash, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (portal_id, user_id, password_hash, now),
                )

    # -- webhooks --------------------------------------------------------------

    async def create_webhook(
        self,
        portal_id: int,
        user_id: int,
        code_hash: str,
        scopes: Sequence[str],
        *,
        title: str = "",
        expires_at: float | None = None,
    ) -> Webhook:
        try:
            await self.driver.execute(
                "INSERT INTO webhooks (portal_id, user_id, code_hash, title, scopes, active,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    portal_id,
                    user_id,
                    code_hash,
                    title,
                    ",".join(scopes),
                    True,
                    expires_at,
                    self.clock.now(),
                ),
            )
        except IntegrityViolationError as exc:
            raise DuplicateError(
                "that webhook code is already in use, or the user is unknown"
            ) from exc
        webhook = await self.webhook_by_hash(code_hash)
        assert webhook is not None
        return webhook

    async def webhook_by_hash(self, code_hash: str) -> Webhook | None:
        row = await self.driver.fetch_one(_WEBHOOKS + " WHERE code_hash = ?", (code_hash,))
        return rows.webhook(row) if row else None

    async def webhook_with_owner(self, code_hash: str) -> tuple[Webhook, User, Portal] | None:
        """The webhook, its user and its portal in one query (the hot path of every call).

        The answer is kept until the driver's change mark moves (any commit by another
        process, any write of this one but to lines): a repeated caller costs a PRAGMA on
        SQLite, a snapshot read shared with the concurrent calls on PostgreSQL
        (storage/changes.py), instead of a three-table join. Expiry is checked by the caller
        each time.
        """
        mark = await self.driver.shared_change_mark()
        hit = self._owners.get(code_hash)
        if hit is not None and hit[0] == mark:
            return hit[1]
        row = await self.driver.fetch_one(_WEBHOOK_OWNER_SQL, (code_hash,))
        found = None
        if row is not None:
            found = (
                rows.webhook(row[:_WEBHOOK_WIDTH]),
                rows.user(row[_WEBHOOK_WIDTH:_USER_END]),
                rows.portal(row[_USER_END:]),
            )
        if len(self._owners) >= self.owner_cache_size:
            self._owners.clear()
        self._owners[code_hash] = (mark, found)
        return found

    async def list_webhooks(self, portal_id: int) -> list[Webhook]:
        found = await self.driver.fetch_all(
            _WEBHOOKS + " WHERE portal_id = ? ORDER BY id", (portal_id,)
        )
        return [rows.webhook(r) for r in found]

    async def set_webhook_active(self, webhook_id: int, active: bool) -> bool:
        changed = await self.driver.execute(
            "UPDATE webhooks SET active = ? WHERE id = ?", (active, webhook_id)
        )
        return changed > 0

    async def delete_webhook(self, webhook_id: int) -> bool:
        return await self.driver.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)) > 0
