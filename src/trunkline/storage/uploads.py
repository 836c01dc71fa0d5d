"""The repository of recording upload tokens (``call_uploads``).

Rules kept here: a token is stored as its SHA-256; using it deletes it (one upload per
URL); an expired token finds nothing.
"""

from __future__ import annotations

from trunkline.storage.driver import Connection, Driver


class UploadRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def add(
        self,
        portal_id: int,
        token_hash: str,
        call_id: str,
        filename: str,
        expires_at: float,
        now: float,
    ) -> None:
        await self.driver.execute(
            "INSERT INTO call_uploads (portal_id, token_hash, call_id, filename, expires_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (portal_id, token_hash, call_id, filename, expires_at, now),
        )

    async def find(self, token_hash: str, now: float) -> tuple[int, str, str] | None:
        """(portal id, call id, file name) of a live token."""
        row = await self.driver.fetch_one(
            "SELECT portal_id, call_id, filename FROM call_uploads"
            " WHERE token_hash = ? AND expires_at > ?",
            (token_hash, now),
        )
        return None if row is None else (int(row[0]), row[1], row[2])

    async def use(self, conn: Connection, token_hash: str) -> bool:
        """Spend a token in the caller's transaction; False when it was spent already."""
        return (
            await conn.execute("DELETE FROM call_uploads WHERE token_hash = ?", (token_hash,)) > 0
        )
