"""The operator's shared values (``operator_values``): small named texts every worker reads,
such as the virtual clock's offset."""

from __future__ import annotations

from trunkline.storage.driver import Driver


class OperatorValues:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def get(self, name: str) -> str | None:
        row = await self.driver.fetch_one(
            "SELECT value FROM operator_values WHERE name = ?", (name,)
        )
        return None if row is None else str(row[0])

    async def put(self, name: str, value: str) -> None:
        async with self.driver.transaction() as conn:
            await conn.execute("DELETE FROM operator_values WHERE name = ?", (name,))
            await conn.execute(
                "INSERT INTO operator_values (name, value) VALUES (?, ?)", (name, value)
            )
