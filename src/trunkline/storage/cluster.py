"""Engine nodes sharing one PostgreSQL database: leases, bucket ownership, fencing tokens.

Rules:

* Every engine node has a row in ``engine_nodes`` with ``lease_until``; it renews the lease
  well before it runs out. A node is live while ``lease_until`` is in the future. Lease times
  are the database server's clock (``clock_timestamp()``), the one clock every node shares;
  a renewal succeeds only while the lease still runs, so a node whose lease ran out must
  join again under a new id (its buckets may already be someone else's).
* Cloud lines fall in hash buckets (domain/buckets.py); ``engine_buckets`` holds each
  bucket's owner and its fencing token. A node claims a bucket only when nobody owns it or
  its owner is no longer live; each claim adds one to the token. A claim keeps the last
  owner in ``previous`` (so the new owner knows to clear the old owner's bindings first).
* Every engine write of a cloud line's state checks the token of its bucket in the same
  statement (storage/registrations.py): a node that lost a bucket cannot overwrite what the
  new owner wrote, even if it was only paused.
* A node hands buckets over by releasing them (owner NULL): a clean stop releases all of its
  buckets at once, so survivors take them on their next beat instead of after the lease.
* PostgreSQL only: on SQLite one process runs the engine and owns every line.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.storage.driver import Driver

__all__ = ["Claim", "ClusterRepository"]

NOW = "extract(epoch from clock_timestamp())"
LIVE = f"SELECT id FROM engine_nodes WHERE lease_until > {NOW}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A bucket this node now owns, with its fencing token and the owner before it."""

    bucket: int
    token: int
    previous: str | None


class ClusterRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def join(self, node: str, address: str, lease: float, buckets: int) -> None:
        """Add this node with a fresh lease (and the bucket rows, the first time)."""
        async with self.driver.transaction() as conn:
            await conn.execute(
                "INSERT INTO engine_buckets (bucket, token)"
                " SELECT g, 0 FROM generate_series(0, ?::int - 1) AS g"
                " ON CONFLICT (bucket) DO NOTHING",
                (buckets,),
            )
            await conn.execute(
                "INSERT INTO engine_nodes (id, address, started_at, lease_until)"
                f" VALUES (?, ?, {NOW}, {NOW} + ?::float8)",
                (node, address, lease),
            )

    async def renew(self, node: str, lease: float) -> bool:
        """Extend the lease; False when it had already run out (or the row is gone)."""
        changed = await self.driver.execute(
            f"UPDATE engine_nodes SET lease_until = {NOW} + ?::float8"
            f" WHERE id = ? AND lease_until > {NOW}",
            (lease, node),
        )
        return changed > 0

    async def live_nodes(self) -> list[str]:
        rows = await self.driver.fetch_all(LIVE + " ORDER BY id")
        return [str(row[0]) for row in rows]

    async def nodes(self) -> list[tuple[str, str, float]]:
        """(id, address, seconds of lease left; negative: ran out) of every node row."""
        rows = await self.driver.fetch_all(
            f"SELECT id, address, lease_until - {NOW} FROM engine_nodes ORDER BY id"
        )
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    async def owned(self, node: str) -> dict[int, int]:
        """bucket -> fencing token of the buckets `node` owns."""
        rows = await self.driver.fetch_all(
            "SELECT bucket, token FROM engine_buckets WHERE node = ?", (node,)
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def claim(self, node: str, buckets: list[int]) -> list[Claim]:
        """Take those of `buckets` that nobody live owns; what was taken."""
        if not buckets:
            return []
        rows = await self.driver.fetch_all(
            "UPDATE engine_buckets SET previous = coalesce(node, previous), node = ?,"
            " token = token + 1"
            " WHERE bucket = ANY(?::int[]) AND (node IS NULL OR node NOT IN (" + LIVE + "))"
            " AND EXISTS (SELECT 1 FROM engine_nodes n WHERE n.id = ?"
            f" AND n.lease_until > {NOW})"
            " RETURNING bucket, token, previous",
            (node, buckets, node),
        )
        return [Claim(int(r[0]), int(r[1]), None if r[2] is None else str(r[2])) for r in rows]

    async def release(self, node: str, buckets: list[int]) -> int:
        """Give up buckets (owner NULL) so that their rightful owner takes them."""
        if not buckets:
            return 0
        return await self.driver.execute(
            "UPDATE engine_buckets SET previous = node, node = NULL"
            " WHERE bucket = ANY(?::int[]) AND node = ?",
            (buckets, node),
        )

    async def leave(self, node: str) -> None:
        """A clean stop: release every bucket of `node` and delete its row."""
        async with self.driver.transaction() as conn:
            await conn.execute(
                "UPDATE engine_buckets SET previous = node, node = NULL WHERE node = ?", (node,)
            )
            await conn.execute("DELETE FROM engine_nodes WHERE id = ?", (node,))

    async def sweep(self, older_than: float) -> int:
        """Delete node rows whose lease ran out more than `older_than` seconds ago."""
        return await self.driver.execute(
            f"DELETE FROM engine_nodes WHERE lease_until < {NOW} - ?::float8", (older_than,)
        )
