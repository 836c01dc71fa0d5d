"""What runs before the workers start: the administrator's password of a fresh seed."""

from __future__ import annotations

import asyncio

from trunkline.auth import passwords
from trunkline.settings import Settings
from trunkline.web.bootstrap import admin_hash


def made(settings: Settings) -> tuple[str, str]:
    async def work() -> tuple[str, str]:
        return await admin_hash(settings)

    return asyncio.run(work())


def test_admin_hash_of_a_generated_password_is_light() -> None:
    password, stored = made(Settings())
    assert passwords.verify(stored, password) and passwords.needs_rehash(stored)


def test_admin_hash_of_a_chosen_password_is_at_full_cost() -> None:
    password, stored = made(Settings().replace(admin_password="chosen by a person"))
    assert password == "chosen by a person"
    assert passwords.verify(stored, password) and not passwords.needs_rehash(stored)
