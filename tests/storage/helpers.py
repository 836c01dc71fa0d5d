"""Helpers of the storage tests."""

from __future__ import annotations

from trunkline.storage.store import Store


async def set_registration(
    store: Store, portal_id: int, config_id: int, status_code: int | None, message: str | None
) -> None:
    """Write a line's registration outcome as the SIP engine would (the row's version moves)."""
    await store.driver.execute(
        "UPDATE lines SET registration_status_code = ?, registration_error_message = ?,"
        " registration_updated_at = ?, version = version + 1"
        " WHERE portal_id = ? AND config_id = ?",
        (status_code, message, store.clock.now(), portal_id, config_id),
    )
