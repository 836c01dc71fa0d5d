"""The running processes of this database: each ``serve`` and each SIP engine has a row.

Rules:

* A process adds its row when it starts (``announce``), may rewrite its data while it runs
  (``update``) and deletes it on a clean stop (``withdraw``).
* A row names its node (host name) and pid. Rows of this node whose pid is gone (a crash,
  ``kill -9``) are not live: ``live`` skips them and ``sweep`` deletes them. Rows of other
  nodes are trusted as they are (their pid cannot be checked from here).
* ``data`` is a JSON object: for ``server`` its public URL and listen address, for
  ``engine`` its registrar listeners and counters.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkline.domain.clock import Clock
from trunkline.storage.driver import Driver

SERVER = "server"
ENGINE = "engine"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    id: int
    role: str
    node: str
    pid: int
    data: dict[str, Any]
    started_at: float
    updated_at: float


class ProcessRepository:
    def __init__(
        self,
        driver: Driver,
        clock: Clock,
        *,
        node: str | None = None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self.driver = driver
        self.clock = clock
        self.node = node or socket.gethostname()
        self.alive = alive

    async def announce(self, role: str, data: dict[str, Any], pid: int | None = None) -> int:
        """Add this process's row; its id (for ``update`` and ``withdraw``)."""
        now = self.clock.now()
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                "INSERT INTO processes (role, node, pid, data, started_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (role, self.node, pid or os.getpid(), json.dumps(data), now, now),
            )
        assert row is not None
        return int(row[0])

    async def update(self, record_id: int, data: dict[str, Any]) -> None:
        await self.driver.execute(
            "UPDATE processes SET data = ?, updated_at = ? WHERE id = ?",
            (json.dumps(data), self.clock.now(), record_id),
        )

    async def withdraw(self, record_id: int) -> None:
        await self.driver.execute("DELETE FROM processes WHERE id = ?", (record_id,))

    async def live(self, role: str) -> list[ProcessRecord]:
        """The rows of ``role`` whose process runs, newest first."""
        found = await self.driver.fetch_all(
            "SELECT id, role, node, pid, data, started_at, updated_at FROM processes"
            " WHERE role = ? ORDER BY id DESC",
            (role,),
        )
        records = [
            ProcessRecord(int(r[0]), r[1], r[2], int(r[3]), _decode(r[4]), float(r[5]), float(r[6]))
            for r in found
        ]
        return [r for r in records if r.node != self.node or self.alive(r.pid)]

    async def sweep(self) -> int:
        """Delete this node's rows whose process is gone; how many."""
        found = await self.driver.fetch_all(
            "SELECT id, pid FROM processes WHERE node = ?", (self.node,)
        )
        dead = [int(row[0]) for row in found if not self.alive(int(row[1]))]
        for record_id in dead:
            await self.withdraw(record_id)
        return len(dead)


def _decode(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
