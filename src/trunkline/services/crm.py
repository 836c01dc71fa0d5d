"""Business rules of the minimal CRM (``domain/crm.py``): seeding it (CLI, operator API)
and what telephony reads from it.

Rules:

* An entity is seeded with a type, a name, a responsible user of the portal and phone
  numbers; a wrong type, an unknown user or a number without digits is a
  :class:`CrmInputError` (a message for the CLI and the operator API), and an import
  stores all of its entities or none.
* ``match`` binds a call: every entity with the number, the first in the order contact,
  company, lead as the primary one; nothing matched and ``create_lead``: a new lead,
  written in the call's transaction.
* ``search`` lists the entities with a number and their responsible users.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from trunkline.domain.calls import CrmRef
from trunkline.domain.clock import Clock
from trunkline.domain.crm import (
    BIND_ORDER,
    DEFAULT_SOURCE,
    NAME_MAX,
    SEARCH_ORDER,
    CrmEntity,
    NewEntity,
    crm_type,
    lead_name,
    phone_digits,
)
from trunkline.domain.portals import Portal, User
from trunkline.services.external_calls import CrmMatch
from trunkline.storage.accounts import AccountRepository
from trunkline.storage.crm import CrmRepository
from trunkline.storage.driver import Connection


class CrmInputError(ValueError):
    """An entity that cannot be seeded: the message says why."""


def _phones(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    items = raw if isinstance(raw, list) else str(raw).replace(";", ",").split(",")
    phones = tuple(str(item).strip() for item in items if str(item).strip())
    for phone in phones:
        if not phone_digits(phone) or len(phone) > 64:
            raise CrmInputError(f"phone {phone!r} is not a phone number")
    return phones


def parse_entity(item: Mapping[str, Any]) -> NewEntity:
    """An entity from a JSON object or a CSV row: ``type``, ``name``, ``phones`` (a list,
    or numbers separated by commas or semicolons; ``phone`` too), ``assigned_by``
    (default 1), ``source``. Keys are case-insensitive."""
    fields = {str(k).strip().lower(): v for k, v in item.items()}
    kind = crm_type(str(fields.get("type") or ""))
    if kind is None:
        raise CrmInputError(f"type {fields.get('type')!r} is not CONTACT, COMPANY or LEAD")
    name = str(fields.get("name") or "").strip()
    if not name or len(name) > NAME_MAX:
        raise CrmInputError(f"name {name!r} should have 1 to {NAME_MAX} characters")
    assigned = fields.get("assigned_by", 1)
    if isinstance(assigned, bool) or not str(assigned).strip().isdigit():
        raise CrmInputError(f"assigned_by {assigned!r} is not a user id")
    phones = _phones(fields.get("phones", fields.get("phone")))
    source = str(fields.get("source") or "")[:64]
    return NewEntity(kind, name, int(str(assigned).strip()), phones, source)


class CrmService:
    def __init__(self, repo: CrmRepository, accounts: AccountRepository, clock: Clock) -> None:
        self.repo = repo
        self.accounts = accounts
        self.clock = clock

    async def add_many(self, portal: Portal, items: Iterable[Mapping[str, Any]]) -> list[int]:
        """Seed entities, all or none; their ids."""
        entities = [parse_entity(item) for item in items]
        for entity in entities:
            if entity.assigned_by >= 2**31 or (
                await self.accounts.get_user(portal.id, entity.assigned_by) is None
            ):
                raise CrmInputError(f"portal {portal.domain} has no user {entity.assigned_by}")
        now = self.clock.now()
        async with self.repo.driver.transaction() as tx:
            return [await self.repo.add(portal.id, entity, now, tx) for entity in entities]

    async def entity(self, portal_id: int, entity_id: int) -> CrmEntity | None:
        return await self.repo.get(portal_id, entity_id) if 0 < entity_id < 2**31 else None

    async def entities(self, portal: Portal) -> list[CrmEntity]:
        return await self.repo.list(portal.id)

    async def match(
        self,
        conn: Connection,
        portal_id: int,
        phone: str,
        *,
        create_lead: bool,
        user_id: int,
        source: str,
    ) -> CrmMatch:
        found = await self.repo.by_phone(portal_id, phone_digits(phone), conn)
        ordered = sorted(found, key=lambda e: (BIND_ORDER.index(e.type), e.id))
        refs = tuple(CrmRef(e.type, e.id) for e in ordered)
        if refs:
            return CrmMatch(primary=refs[0], bindings=refs)
        if not create_lead:
            return CrmMatch()
        lead = NewEntity(
            BIND_ORDER[2], lead_name(phone), user_id, (phone,), source or DEFAULT_SOURCE
        )
        lead_id = await self.repo.add(portal_id, lead, self.clock.now(), conn)
        ref = CrmRef(lead.type, lead_id)
        return CrmMatch(primary=ref, bindings=(ref,), created=(ref,))

    async def search(self, portal_id: int, phone: str) -> list[tuple[CrmEntity, User | None]]:
        found = await self.repo.by_phone(portal_id, phone_digits(phone))
        ordered = sorted(found, key=lambda e: (SEARCH_ORDER.index(e.type), e.id))
        users: dict[int, User | None] = {}
        for entity in ordered:
            if entity.assigned_by not in users:
                users[entity.assigned_by] = await self.accounts.get_user(
                    portal_id, entity.assigned_by
                )
        return [(entity, users[entity.assigned_by]) for entity in ordered]
