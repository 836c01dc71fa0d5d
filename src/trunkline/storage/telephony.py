"""The repository of built-in telephony: portal options, users' SIP phones and the
bindings of those phones at the office registrar.

Rules kept here, where the rows are:

* Options are one row per (portal, name); a write replaces the value (upsert).
* A phone's SIP password is encrypted at rest like a line's PASSWORD (``secrets.py``).
* A user with no ``user_phones`` row has a phone that was never set: PHONE_ENABLED,
  SIP_PASSWORD and DEFAULT_LINE are NULL.
* Deactivating a phone and dropping its bindings happen in one transaction.
* Phone bindings are replaced per (portal, user, contact), like office bindings, and swept
  when they expire.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence

from trunkline.domain.lines import OfficeBinding
from trunkline.domain.telephony import UserPhone
from trunkline.storage.driver import Driver, Row
from trunkline.storage.registrations import (
    BINDING_COLUMNS,
    binding_from_row,
    binding_values,
    lapsing,
    read_bindings,
)
from trunkline.storage.secrets import Cipher

__all__ = ["PhoneAccount", "PhoneChanges", "TelephonyRepository"]

# (portal_id, user_id, phone_enabled, sip_password, default_line, phone_inner) per user
_SELECT_PHONES = (
    "SELECT u.portal_id, u.user_id, p.phone_enabled, p.sip_password, p.default_line,"
    " u.phone_inner FROM users u LEFT JOIN user_phones p"
    " ON p.portal_id = u.portal_id AND p.user_id = u.user_id"
)

_UPSERT_BINDING = (
    f"INSERT INTO phone_bindings (portal_id, user_id, {BINDING_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (portal_id, user_id, contact) DO UPDATE SET"
    " received_host = excluded.received_host, received_port = excluded.received_port,"
    " transport = excluded.transport, call_id = excluded.call_id, cseq = excluded.cseq,"
    " user_agent = excluded.user_agent, expires_at = excluded.expires_at,"
    " updated_at = excluded.updated_at, instance_id = excluded.instance_id,"
    " reg_id = excluded.reg_id"
)

# The batch's write: the binding only while its phone is enabled and its user active (one
# statement, not a SELECT then the UPSERT; SQLite needs the WHERE before ON CONFLICT).
_ENABLED = (
    " EXISTS (SELECT 1 FROM user_phones p JOIN users u"
    " ON u.portal_id = p.portal_id AND u.user_id = p.user_id"
    " WHERE p.portal_id = ? AND p.user_id = ? AND p.phone_enabled = 'Y' AND u.active = ?)"
)
_UPSERT_ENABLED_BINDING = (
    f"INSERT INTO phone_bindings (portal_id, user_id, {BINDING_COLUMNS})"
    " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    f" WHERE{_ENABLED}" + _UPSERT_BINDING[_UPSERT_BINDING.index(" ON CONFLICT") :]
)
# A refresh's write (its contact was stored when decided): the row updated in place, with
# the same check, before the INSERT is tried; no row updated (gone meanwhile, or the phone
# no longer enabled): the INSERT above, as for any binding. ~6k instructions less a row.
# It sets BINDING_COLUMNS but the contact, in their order: binding_values(b)[1:].
_BINDING_NAMES = [column.strip() for column in BINDING_COLUMNS.split(",")]
_UPDATE_ENABLED_BINDING = (
    "UPDATE phone_bindings SET "
    + ", ".join(f"{column} = ?" for column in _BINDING_NAMES[1:])
    + " WHERE portal_id = ? AND user_id = ? AND contact = ?"
    f" AND{_ENABLED}"
)

PhoneAccount = tuple[int, int, str | None]  # (portal_id, user_id, SIP password) of an enabled phone
PhoneChanges = dict[str, OfficeBinding | None]  # contact -> binding to store, None: delete it


# Kept by the registrar's PhoneBook under the change counters (engine/phones.py), as are the
# phone bindings: tables storage/mark_schema.py must watch (tests/storage/test_mark_triggers).
PHONE_ACCOUNTS_SQL = (
    "SELECT p.portal_id, p.user_id, p.sip_password FROM user_phones p"
    " JOIN users u ON u.portal_id = p.portal_id AND u.user_id = p.user_id"
    " WHERE p.user_id = ? AND p.phone_enabled = 'Y' AND u.active = ?"
    " ORDER BY p.portal_id LIMIT 50"
)
# Those accounts, each with its phone's stored bindings (none: one row of NULLs), by
# portal and contact: one join and one sort. (The accounts query as a subquery sorts three
# times, and costs as much as the two queries this replaces: ~106k instructions a phone's
# first lookup, callgrind; this ~74k.) `phone_book` keeps the first 50 portals, as the
# LIMIT of the accounts query does.
PHONE_BOOK_SQL = (
    "SELECT p.portal_id, p.user_id, p.sip_password, "
    + ", ".join(f"b.{column}" for column in _BINDING_NAMES)
    + " FROM user_phones p JOIN users u ON u.portal_id = p.portal_id AND u.user_id = p.user_id"
    " LEFT JOIN phone_bindings b ON b.portal_id = p.portal_id AND b.user_id = p.user_id"
    " WHERE p.user_id = ? AND p.phone_enabled = 'Y' AND u.active = ?"
    " ORDER BY p.portal_id, b.contact"
)


class TelephonyRepository:
    def __init__(self, driver: Driver, cipher: Cipher) -> None:
        self.driver = driver
        self.cipher = cipher

    # -- portal options -------------------------------------------------------------

    async def option(self, portal_id: int, name: str) -> str | None:
        row = await self.driver.fetch_one(
            "SELECT value FROM portal_options WHERE portal_id = ? AND name = ?",
            (portal_id, name),
        )
        return None if row is None else str(row[0])

    async def set_option(self, portal_id: int, name: str, value: str) -> None:
        await self.driver.execute(
            "INSERT INTO portal_options (portal_id, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (portal_id, name) DO UPDATE SET value = excluded.value",
            (portal_id, name, value),
        )

    # -- lines as voximplant.line.get lists them ---------------------------------------

    async def line_names(self, portal_id: int) -> list[tuple[str, int, int, str | None]]:
        """(type, CONFIG_ID, REG_ID, TITLE) of every SIP line of the portal, any app."""
        rows = await self.driver.fetch_all(
            "SELECT type, config_id, reg_id, title FROM lines WHERE portal_id = ?"
            " ORDER BY config_id",
            (portal_id,),
        )
        return [
            (str(r[0]), int(r[1]), int(r[2] or 0), None if r[3] is None else str(r[3]))
            for r in rows
        ]

    async def external_numbers(self, portal_id: int) -> set[str]:
        """The NUMBERs of the portal's external lines (``telephony.externalLine.*``)."""
        rows = await self.driver.fetch_all(
            "SELECT number FROM external_lines WHERE portal_id = ?", (portal_id,)
        )
        return {str(r[0]) for r in rows}

    # -- users' phones ------------------------------------------------------------------

    def _phone(self, row: Row) -> UserPhone:
        return UserPhone(
            user_id=int(row[1]),
            phone_enabled=None if row[2] is None else str(row[2]),
            sip_password=self.cipher.decrypt(row[3], "sip_password"),
            default_line=None if row[4] is None else str(row[4]),
            inner_number=None if row[5] is None else str(row[5]),
        )

    async def phones(self, portal_id: int, user_ids: Sequence[int]) -> list[UserPhone]:
        """The phones of those of ``user_ids`` that exist in the portal, by user id."""
        wanted = sorted({u for u in user_ids if 0 < u < 2**31})[:500]
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = await self.driver.fetch_all(
            _SELECT_PHONES + f" WHERE u.portal_id = ? AND u.user_id IN ({marks})"
            " ORDER BY u.user_id",
            (portal_id, *wanted),
        )
        return [self._phone(row) for row in rows]

    async def set_phone(
        self, portal_id: int, user_id: int, *, enabled: bool, new_password: str
    ) -> None:
        """PHONE_ENABLED to Y or N; the password ``new_password`` is kept only when the phone
        has none yet. Deactivating drops the phone's bindings in the same transaction."""
        stored = self.cipher.encrypt(new_password, "sip_password")
        flag = "Y" if enabled else "N"
        async with self.driver.transaction() as conn:
            await conn.execute(
                "INSERT INTO user_phones (portal_id, user_id, phone_enabled, sip_password)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (portal_id, user_id) DO UPDATE SET"
                " phone_enabled = excluded.phone_enabled,"
                " sip_password = COALESCE(user_phones.sip_password, excluded.sip_password)",
                (portal_id, user_id, flag, stored),
            )
            if not enabled:
                await conn.execute(
                    "DELETE FROM phone_bindings WHERE portal_id = ? AND user_id = ?",
                    (portal_id, user_id),
                )

    async def phone_accounts(self, user_id: int) -> list[PhoneAccount]:
        """Every portal's enabled, active phone of ``user_id`` (the login ``phone<ID>``).
        The passwords are not kept in the cipher's cache: the registrar keeps the accounts
        (engine/phones.py), and 10,000 phones would be kept twice."""
        rows = await self.driver.fetch_all(PHONE_ACCOUNTS_SQL, (user_id, True))
        return [
            (int(r[0]), int(r[1]), self.cipher.decrypt(r[2], "sip_password", keep=False))
            for r in rows
        ]

    async def phone_book(self, user_id: int) -> list[tuple[PhoneAccount, list[OfficeBinding]]]:
        """``phone_accounts(user_id)``, each with its phone's ``bindings``, in one query
        (a phone's first REGISTER, engine/phones.py)."""
        rows = await self.driver.fetch_all(PHONE_BOOK_SQL, (user_id, True))
        found: list[tuple[PhoneAccount, list[OfficeBinding]]] = []
        for r in rows:
            if not found or found[-1][0][0] != r[0]:
                if len(found) == 50:  # as phone_accounts' LIMIT
                    break
                password = self.cipher.decrypt(r[2], "sip_password", keep=False)
                found.append(((int(r[0]), int(r[1]), password), []))
            if r[3] is not None:  # contact: NOT NULL in a stored binding
                found[-1][1].append(binding_from_row(r[3:]))
        return found

    # -- phone bindings -----------------------------------------------------------------

    async def bindings(
        self, portal_id: int, user_id: int, *, now: float | None = None
    ) -> list[OfficeBinding]:
        return await read_bindings(
            self.driver, "phone_bindings", "user_id", portal_id, user_id, now
        )

    async def apply_bindings(
        self,
        portal_id: int,
        user_id: int,
        upserts: Sequence[OfficeBinding],
        removals: Sequence[str],
    ) -> None:
        """Replace the given contacts' rows and delete the removed ones, atomically."""
        async with self.driver.transaction() as conn:
            for contact in removals:
                await conn.execute(
                    "DELETE FROM phone_bindings WHERE portal_id = ? AND user_id = ?"
                    " AND contact = ?",
                    (portal_id, user_id, contact),
                )
            for b in upserts:  # one statement per contact: insert, or replace in place
                await conn.execute(_UPSERT_BINDING, (portal_id, user_id, *binding_values(b)))

    async def write_bindings(
        self,
        changes: Mapping[tuple[int, int], PhoneChanges],
        refreshed: Container[tuple[int, int, str]] = (),
    ) -> None:
        """Several phones' binding changes in one transaction (the registrar's batch): per
        (portal_id, user_id), contact -> the binding to store, or None to delete it. Nothing
        is stored for a phone no longer enabled or whose user is no longer active (a
        deactivation committed after the REGISTER was decided wins). ``refreshed``: the
        (portal_id, user_id, contact) likely stored already (updated first: same result)."""
        async with self.driver.transaction() as conn:
            for (portal_id, user_id), contacts in changes.items():
                for contact, b in contacts.items():
                    if b is None:
                        await conn.execute(
                            "DELETE FROM phone_bindings WHERE portal_id = ? AND user_id = ?"
                            " AND contact = ?",
                            (portal_id, user_id, contact),
                        )
                    else:  # the enabled check and the write in one statement
                        if (portal_id, user_id, contact) in refreshed:
                            values = binding_values(b)
                            where = (portal_id, user_id, contact, portal_id, user_id, True)
                            if await conn.execute(_UPDATE_ENABLED_BINDING, (*values[1:], *where)):
                                continue
                        await conn.execute(
                            _UPSERT_ENABLED_BINDING,
                            (portal_id, user_id, *binding_values(b), portal_id, user_id, True),
                        )

    async def delete_expired(self, now: float) -> int:
        return await self.driver.execute("DELETE FROM phone_bindings WHERE expires_at <= ?", (now,))

    async def lapsing(self, now: float) -> list[tuple[int, int, float]]:
        """(portal_id, user_id, when) of the phones whose bindings have all expired."""
        return await lapsing(self.driver, "phone_bindings", "user_id", now)
