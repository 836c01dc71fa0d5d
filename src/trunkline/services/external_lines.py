"""Business rules of applications' external lines (``domain/external.py``).

Rules:

* Lines are scoped to (portal, application); ``rest_app_id`` None is a webhook's
  "no application".
* ``add`` refuses an empty NUMBER ("NUMBER should not be empty") and a NUMBER the app
  already has ("Line already exists"); ``update`` and ``delete`` refuse a NUMBER the app
  has not ("Could not find line with number <NUMBER>"), after the empty check.
* ``line_for_call`` finds the app's line with a call's LINE_NUMBER, creating it when the
  app has none (as ``externalCall.register`` does in the core).
"""

from __future__ import annotations

from trunkline.domain.clock import Clock
from trunkline.domain.external import ExternalLine, line_number
from trunkline.errors import RefusedError
from trunkline.storage.driver import Connection
from trunkline.storage.external_lines import ExternalLineRepository

EMPTY_NUMBER = "NUMBER should not be empty"
LINE_EXISTS = "Line already exists"
NO_FIELDS = "There are no fields to update"


def _not_found(number: str) -> RefusedError:
    return RefusedError(f"Could not find line with number {number}")


class ExternalLineService:
    def __init__(self, repo: ExternalLineRepository, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    async def add(
        self, portal_id: int, rest_app_id: int | None, number: str, name: str, crm: bool
    ) -> int:
        stored = line_number(number)
        if not stored:
            raise RefusedError(EMPTY_NUMBER)
        line_id = await self.repo.add(portal_id, rest_app_id, stored, name, crm, self.clock.now())
        if line_id is None:
            raise RefusedError(LINE_EXISTS)
        return line_id

    async def _existing(self, portal_id: int, rest_app_id: int | None, number: str) -> ExternalLine:
        stored = number.strip()
        if not stored:
            raise RefusedError(EMPTY_NUMBER)
        line = await self.repo.find(portal_id, rest_app_id, stored)
        if line is None:
            raise _not_found(stored)
        return line

    async def update(
        self,
        portal_id: int,
        rest_app_id: int | None,
        number: str,
        *,
        name: str | None,
        crm: bool | None,
    ) -> int:
        if name is None and crm is None:
            raise RefusedError(NO_FIELDS)
        line = await self._existing(portal_id, rest_app_id, number)
        await self.repo.update(line.id, name=name, crm_auto_create=crm)
        return line.id

    async def delete(self, portal_id: int, rest_app_id: int | None, number: str) -> None:
        line = await self._existing(portal_id, rest_app_id, number)
        await self.repo.delete(line.id)

    async def lines(self, portal_id: int, rest_app_id: int | None) -> list[ExternalLine]:
        return await self.repo.list(portal_id, rest_app_id)

    async def by_number(self, portal_id: int, number: str) -> list[ExternalLine]:
        return await self.repo.by_number(portal_id, line_number(number))

    async def get(self, portal_id: int, line_id: int) -> ExternalLine | None:
        return await self.repo.get(portal_id, line_id)

    async def line_for_call(
        self, portal_id: int, rest_app_id: int | None, number: str, conn: Connection
    ) -> ExternalLine | None:
        """The app's line NUMBER (created when missing); None for an empty NUMBER."""
        stored = line_number(number)
        if not stored:
            return None
        for _ in range(3):
            line = await self.repo.find(portal_id, rest_app_id, stored, conn)
            if line is not None:
                return line
            await self.repo.add(portal_id, rest_app_id, stored, "", True, self.clock.now(), conn)
        return await self.repo.find(portal_id, rest_app_id, stored, conn)
