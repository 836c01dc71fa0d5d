"""The repository of operator controls: portal states and injected faults.

A counted fault is spent one call at a time with a conditional ``UPDATE``
(``remaining > 0``), so the count holds however many workers share the database.
"""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.limits.faults import Fault
from trunkline.limits.states import PortalState
from trunkline.storage.driver import Driver, Row

_STATE_COLUMNS = "portal_id, plan, limits, blocked, closed, hold"
_FAULT_COLUMNS = "id, kind, portal_id, method, remaining, share, latency_ms"


def _state(row: Row) -> PortalState:
    hold = tuple(h for h in str(row[5]).split(",") if h)
    return PortalState(int(row[0]), str(row[1]), str(row[2]), bool(row[3]), bool(row[4]), hold)


def _fault(row: Row) -> Fault:
    return Fault(
        int(row[0]),
        str(row[1]),
        None if row[2] is None else int(row[2]),
        row[3],
        None if row[4] is None else int(row[4]),
        None if row[5] is None else float(row[5]),
        int(row[6]),
    )


class ControlRepository:
    def __init__(self, driver: Driver, clock: Clock) -> None:
        self.driver = driver
        self.clock = clock

    async def states(self) -> dict[int, PortalState]:
        rows = await self.driver.fetch_all(f"SELECT {_STATE_COLUMNS} FROM portal_states")
        return {int(r[0]): _state(r) for r in rows}

    async def state(self, portal_id: int) -> PortalState:
        row = await self.driver.fetch_one(
            f"SELECT {_STATE_COLUMNS} FROM portal_states WHERE portal_id = ?", (portal_id,)
        )
        return PortalState(portal_id) if row is None else _state(row)

    async def save_state(self, state: PortalState) -> None:
        values = (
            state.plan,
            state.limits,
            state.blocked,
            state.closed,
            ",".join(state.hold),
            self.clock.now(),
            state.portal_id,
        )
        async with self.driver.transaction() as conn:
            changed = await conn.execute(
                "UPDATE portal_states SET plan = ?, limits = ?, blocked = ?, closed = ?,"
                " hold = ?, updated_at = ? WHERE portal_id = ?",
                values,
            )
            if not changed:
                await conn.execute(
                    "INSERT INTO portal_states (plan, limits, blocked, closed, hold, updated_at,"
                    " portal_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )

    async def faults(self, *, live_only: bool = True) -> list[Fault]:
        where = " WHERE remaining IS NULL OR remaining > 0" if live_only else ""
        rows = await self.driver.fetch_all(
            f"SELECT {_FAULT_COLUMNS} FROM faults{where} ORDER BY id"
        )
        return [_fault(r) for r in rows]

    async def add_fault(self, fault: Fault) -> Fault:
        async with self.driver.transaction() as conn:
            row = await conn.fetch_one(
                "INSERT INTO faults (kind, portal_id, method, remaining, share, latency_ms,"
                f" created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_FAULT_COLUMNS}",
                (
                    fault.kind,
                    fault.portal_id,
                    fault.method,
                    fault.remaining,
                    fault.share,
                    fault.latency_ms,
                    self.clock.now(),
                ),
            )
        assert row is not None
        return _fault(row)

    async def clear_faults(self, fault_id: int | None = None) -> int:
        if fault_id is None:
            return await self.driver.execute("DELETE FROM faults")
        return await self.driver.execute("DELETE FROM faults WHERE id = ?", (fault_id,))

    async def consume(self, fault_id: int) -> bool:
        """Take one call from a counted fault; False when it is spent or gone."""
        changed = await self.driver.execute(
            "UPDATE faults SET remaining = remaining - 1 WHERE id = ? AND remaining > 0",
            (fault_id,),
        )
        return changed > 0
