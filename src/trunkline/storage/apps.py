"""The repository of OAuth applications: apps, installs, codes, tokens, passwords, connector.

Rules kept here, where the rows are:

* Secrets never reach the database in clear: client secrets, authorization codes
  and access/refresh tokens are stored as SHA-256 hex digests (the caller hashes),
  user passwords as argon2id hashes, the install's application token encrypted
  with the key that protects SIP passwords.
* An authorization code and a refresh token each work once. Redeeming one is a
  transaction that checks the row, deletes it (a second, concurrent redeemer
  deletes nothing and is refused) and writes the new token pair; a refused
  redemption rolls back and changes nothing.
* Reinstalling an app on a portal revokes every token and code of the earlier
  install; uninstalling keeps the tokens so that their use answers
  ``APPLICATION_NOT_FOUND`` rather than ``invalid_token``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from trunkline.domain.clock import Clock
from trunkline.domain.portals import (
    AccessGrant,
    Application,
    Connector,
    GrantRefusedError,
    Installation,
    NewTokens,
    Redeemed,
)
from trunkline.storage import rows
from trunkline.storage.driver import Connection, Driver, DuplicateError, IntegrityViolationError
from trunkline.storage.rows import APP_COLUMNS, INSTALL_COLUMNS, columns
from trunkline.storage.secrets import Cipher

_APPS = f"SELECT {columns(APP_COLUMNS)} FROM apps"
_INSTALLS = f"SELECT {columns(INSTALL_COLUMNS)} FROM app_installs"
_INSTALL_WIDTH = len(INSTALL_COLUMNS)


class AppRepository:
    def __init__(self, driver: Driver, cipher: Cipher, clock: Clock) -> None:
        self.driver = driver
        self.cipher = cipher
        self.clock = clock

    # -- applications ----------------------------------------------------------

    async def create_app(
        self,
        client_id: str,
        secret_hash: str,
        *,
        title: str,
        code: str,
        status: str,
        scopes: Sequence[str],
        handler_url: str,
        redirect_uri: str,
    ) -> Application:
        try:
            await self.driver.execute(
                "INSERT INTO apps (client_id, secret_hash, title, code, version, status, scopes,"
                " handler_url, redirect_uri, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    secret_hash,
                    title,
                    code,
                    status,
                    ",".join(scopes),
                    handler_url,
                    redirect_uri,
                    self.clock.now(),
                ),
            )
        except IntegrityViolationError as exc:
            raise DuplicateError(f"an application {client_id!r} already exists") from exc
        app = await self.app_by_client_id(client_id)
        assert app is not None
        return app

    async def app_by_client_id(self, client_id: str) -> Application | None:
        row = await self.driver.fetch_one(_APPS + " WHERE client_id = ?", (client_id,))
        return rows.app(row) if row else None

    async def client(self, client_id: str) -> tuple[Application, str] | None:
        """The app and the hash of its secret, for the token endpoint."""
        row = await self.driver.fetch_one(
            f"SELECT {columns(APP_COLUMNS)}, secret_hash FROM apps WHERE client_id = ?",
            (client_id,),
        )
        return (rows.app(row), row[len(APP_COLUMNS)]) if row else None

    async def list_apps(self) -> list[Application]:
        return [rows.app(r) for r in await self.driver.fetch_all(_APPS + " ORDER BY id")]

    # -- installations ---------------------------------------------------------

    async def delete_app(self, app_id: int) -> int:
        """Delete an application; its installs, codes and tokens cascade. How many installs
        it had."""
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                "SELECT COUNT(*) FROM app_installs WHERE app_id = ?", (app_id,)
            )
            await conn.execute("DELETE FROM apps WHERE id = ?", (app_id,))
        return int(row[0]) if row else 0

    async def installation(self, portal_id: int, app_id: int) -> Installation | None:
        row = await self.driver.fetch_one(
            _INSTALLS + " WHERE portal_id = ? AND app_id = ?",
            (portal_id, app_id),
        )
        return rows.installation(row) if row else None

    async def installation_by_id(self, install_id: int) -> Installation | None:
        row = await self.driver.fetch_one(_INSTALLS + " WHERE id = ?", (install_id,))
        return rows.installation(row) if row else None

    async def list_installations(self, portal_id: int) -> list[tuple[Installation, Application]]:
        found = await self.driver.fetch_all(
            f"SELECT {columns(INSTALL_COLUMNS, 'i')}, {columns(APP_COLUMNS, 'a')}"
            " FROM app_installs i JOIN apps a ON a.id = i.app_id WHERE i.portal_id = ?"
            " ORDER BY i.id",
            (portal_id,),
        )
        return [
            (rows.installation(r[:_INSTALL_WIDTH]), rows.app(r[_INSTALL_WIDTH:])) for r in found
        ]

    async def install(
        self,
        portal_id: int,
        app_id: int,
        user_id: int,
        application_token: str,
        now: float,
        *,
        then: Callable[[Connection, int], Awaitable[None]] | None = None,
    ) -> Installation:
        """Install (or reinstall) an app; a reinstall revokes the earlier tokens and codes
        and removes the app's event handlers. ``then(conn, install_id)`` runs in the same
        transaction (the install's tokens and its ONAPPINSTALL event)."""
        sealed = self.cipher.encrypt(application_token, "application_token")
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                "SELECT id FROM app_installs WHERE portal_id = ? AND app_id = ?",
                (portal_id, app_id),
            )
            if row is None:
                await conn.execute(
                    "INSERT INTO app_installs (app_id, portal_id, active, allowed_users,"
                    " application_token, installed_by, installed_at)"
                    " VALUES (?, ?, ?, '', ?, ?, ?)",
                    (app_id, portal_id, True, sealed, user_id, now),
                )
            else:
                await conn.execute("DELETE FROM oauth_tokens WHERE install_id = ?", (row[0],))
                await conn.execute("DELETE FROM oauth_codes WHERE install_id = ?", (row[0],))
                await conn.execute("DELETE FROM event_bindings WHERE install_id = ?", (row[0],))
                await conn.execute(
                    "UPDATE app_installs SET active = ?, application_token = ?, installed_by = ?,"
                    " installed_at = ? WHERE id = ?",
                    (True, sealed, user_id, now, row[0]),
                )
            if then is not None:
                found = await conn.fetch_one(
                    "SELECT id FROM app_installs WHERE portal_id = ? AND app_id = ?",
                    (portal_id, app_id),
                )
                assert found is not None
                await then(conn, int(found[0]))
        installation = await self.installation(portal_id, app_id)
        assert installation is not None
        return installation

    async def application_token(self, install_id: int) -> str | None:
        row = await self.driver.fetch_one(
            "SELECT application_token FROM app_installs WHERE id = ?", (install_id,)
        )
        if row is None:
            return None
        return self.cipher.decrypt(row[0], "application_token")

    async def set_allowed_users(self, install_id: int, user_ids: Sequence[int]) -> None:
        await self.driver.execute(
            "UPDATE app_installs SET allowed_users = ? WHERE id = ?",
            (",".join(str(u) for u in sorted(set(user_ids))), install_id),
        )

    async def uninstall(
        self, install_id: int, *, then: Callable[[Connection], Awaitable[None]] | None = None
    ) -> None:
        """Mark an install uninstalled; ``then(conn)`` runs in the same transaction."""
        async with self.driver.transaction() as conn:
            await conn.execute(
                "UPDATE app_installs SET active = ? WHERE id = ?", (False, install_id)
            )
            await conn.execute("DELETE FROM oauth_codes WHERE install_id = ?", (install_id,))
            if then is not None:
                await then(conn)

    # -- authorization codes ---------------------------------------------------

    async def insert_code(
        self, code_hash: str, install_id: int, user_id: int, expires_at: float, now: float
    ) -> None:
        async with self.driver.transaction() as conn:
            # Codes live seconds: sweep the stale ones while we are here.
            await conn.execute("DELETE FROM oauth_codes WHERE expires_at < ?", (now - 60,))
            await conn.execute(
                "INSERT INTO oauth_codes (code_hash, install_id, user_id, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (code_hash, install_id, user_id, expires_at),
            )

    async def redeem_code(
        self, code_hash: str, app: Application, tokens: NewTokens, now: float
    ) -> Redeemed:
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                f"SELECT c.user_id, c.expires_at, {columns(INSTALL_COLUMNS, 'i')}"
                " FROM oauth_codes c JOIN app_installs i ON i.id = c.install_id"
                " WHERE c.code_hash = ? AND i.app_id = ?",
                (code_hash, app.id),
            )
            if row is None:
                raise GrantRefusedError("unknown")
            installation = rows.installation(row[2:])
            if row[1] <= now:
                raise GrantRefusedError("expired")
            if not installation.active:
                raise GrantRefusedError("not_installed")
            if await conn.execute("DELETE FROM oauth_codes WHERE code_hash = ?", (code_hash,)) != 1:
                raise GrantRefusedError("unknown")  # a concurrent exchange won
            user_id = int(row[0])
            await self._insert_tokens(conn, installation.id, user_id, app.scopes, tokens, now)
        return Redeemed(installation, user_id, app.scopes)

    # -- tokens ----------------------------------------------------------------

    async def _insert_tokens(
        self,
        conn: Connection,
        install_id: int,
        user_id: int,
        scopes: Sequence[str],
        tokens: NewTokens,
        now: float,
    ) -> None:
        await conn.execute("DELETE FROM oauth_tokens WHERE refresh_expires_at < ?", (now,))
        await conn.execute(
            "INSERT INTO oauth_tokens (install_id, user_id, access_hash, refresh_hash, scopes,"
            " access_expires_at, refresh_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                install_id,
                user_id,
                tokens.access_hash,
                tokens.refresh_hash,
                ",".join(scopes),
                tokens.access_expires_at,
                tokens.refresh_expires_at,
                now,
            ),
        )

    async def issue_in(
        self,
        conn: Connection,
        install_id: int,
        user_id: int,
        scopes: Sequence[str],
        tokens: NewTokens,
        now: float,
    ) -> None:
        """Store a new pair for an install, in the caller's transaction."""
        await self._insert_tokens(conn, install_id, user_id, scopes, tokens, now)

    async def issue(
        self,
        installation: Installation,
        user_id: int,
        scopes: Sequence[str],
        tokens: NewTokens,
        now: float,
    ) -> None:
        """Store a new pair for an install (the install command's tokens)."""
        async with self.driver.transaction() as conn:
            await self._insert_tokens(conn, installation.id, user_id, scopes, tokens, now)

    async def redeem_refresh(
        self, refresh_hash: str, app: Application, tokens: NewTokens, now: float
    ) -> Redeemed:
        """Rotate: the old pair (refresh and access token) is replaced by ``tokens``."""
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                f"SELECT t.id, t.user_id, t.scopes, t.refresh_expires_at,"
                f" {columns(INSTALL_COLUMNS, 'i')}"
                " FROM oauth_tokens t JOIN app_installs i ON i.id = t.install_id"
                " WHERE t.refresh_hash = ? AND i.app_id = ?",
                (refresh_hash, app.id),
            )
            if row is None:
                raise GrantRefusedError("unknown")
            installation = rows.installation(row[4:])
            if row[3] <= now:
                raise GrantRefusedError("expired")
            if not installation.active:
                raise GrantRefusedError("not_installed")
            if await conn.execute("DELETE FROM oauth_tokens WHERE id = ?", (row[0],)) != 1:
                raise GrantRefusedError("unknown")  # a concurrent refresh won
            scopes = rows.split(row[2])
            user_id = int(row[1])
            await self._insert_tokens(conn, installation.id, user_id, scopes, tokens, now)
        return Redeemed(installation, user_id, scopes)

    async def grant(self, access_hash: str) -> AccessGrant | None:
        row = await self.driver.fetch_one(
            f"SELECT t.user_id, t.scopes, t.access_expires_at, a.client_id,"
            f" {columns(INSTALL_COLUMNS, 'i')}"
            " FROM oauth_tokens t JOIN app_installs i ON i.id = t.install_id"
            " JOIN apps a ON a.id = i.app_id WHERE t.access_hash = ?",
            (access_hash,),
        )
        if row is None:
            return None
        return AccessGrant(
            installation=rows.installation(row[4:]),
            client_id=row[3],
            user_id=int(row[0]),
            scopes=rows.split(row[1]),
            expires_at=float(row[2]),
        )

    # -- the SIP connector -----------------------------------------------------

    async def connector(self, portal_id: int) -> Connector:
        row = await self.driver.fetch_one(
            "SELECT free_minutes, paid, paid_until FROM connectors WHERE portal_id = ?",
            (portal_id,),
        )
        if row is None:
            return Connector()
        return Connector(int(row[0]), bool(row[1]), None if row[2] is None else float(row[2]))

    async def set_connector(self, portal_id: int, connector: Connector) -> None:
        values = (connector.free_minutes, connector.paid, connector.paid_until, self.clock.now())
        async with self.driver.transaction() as conn:
            changed = await conn.execute(
                "UPDATE connectors SET free_minutes = ?, paid = ?, paid_until = ?, updated_at = ?"
                " WHERE portal_id = ?",
                (*values, portal_id),
            )
            if not changed:
                await conn.execute(
                    "INSERT INTO connectors (free_minutes, paid, paid_until, updated_at,"
                    " portal_id) VALUES (?, ?, ?, ?, ?)",
                    (*values, portal_id),
                )
