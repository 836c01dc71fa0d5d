"""What the SIP engine reads and writes: cloud-line registration state and office bindings.

Rules:

* The engine writes a cloud line's outcome (result, code, message) with a compare-and-set on
  ``registration_updated_at``: the write applies only when the column still holds the value
  the engine last saw. ``sip.update`` of SERVER/LOGIN/PASSWORD moves that column too, so an
  engine write can never overwrite a change the REST side made after the engine read the
  row; a refused write tells the engine to read the row again.
* On PostgreSQL with several engine nodes a write also carries the fencing token of the
  line's bucket (storage/cluster.py) and applies only while the writing node still owns the
  bucket with that token; bindings are written only while the writing node's lease runs
  (``fence_node``). A node that lost its lease changes nothing.
* ``registration_updated_at`` doubles as the cheap change marker a separate engine process
  polls (``cloud_markers``): a line whose marker differs from the engine's is read again.
* Office PBXs are found by ``INCOMING_LOGIN`` (``sip<CONFIG_ID>``). CONFIG_IDs are numbered
  per portal, so the same login can exist in several portals: the host the PBX registered
  to keeps the lines whose INCOMING_SERVER (without its port) it is; when several remain
  (every portal shares one INCOMING_SERVER by default), the registrar keeps the one whose
  INCOMING_PASSWORD the PBX's digest answers (``sip.registrar.Registrar.pick``).
* Bindings are replaced per (line, contact); expired rows are swept by ``delete_expired``.
  A binding keeps the RFC 5626 ``+sip.instance`` and ``reg-id`` its Contact carried.
* An office line is challenged with MD5 unless the operator opted it in to SHA-256
  (``incoming_algorithm``); the registrar keeps the opted-in logins in memory
  (``office_algorithms``, re-read at every poll) so a challenge costs no query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from trunkline.domain.lines import OfficeBinding, RegistrationState, SipLine
from trunkline.storage.driver import Driver
from trunkline.storage.lines import line_from_row
from trunkline.storage.secrets import Cipher
from trunkline.storage.sql import SELECT_LINES

__all__ = ["RegistrationStore", "StatusWrite"]

BINDING_COLUMNS = (
    "contact, received_host, received_port, transport, call_id, cseq, user_agent,"
    " expires_at, updated_at, instance_id, reg_id"
)
DIGEST_ALGORITHMS = ("MD5", "SHA-256")  # what an office line may be challenged with


@dataclass(frozen=True, slots=True)
class StatusWrite:
    """One compare-and-set of a cloud line's shown registration state."""

    portal_id: int
    config_id: int
    result: RegistrationState
    status_code: int | None
    message: str | None
    expected_marker: float | None
    new_marker: float
    fence: tuple[int, str, int] | None = None  # (bucket, node, token) on a cluster


def binding_from_row(row: Sequence[object]) -> OfficeBinding:
    """An office or phone binding from its eleven columns (``contact`` ... ``reg_id``)."""
    return OfficeBinding(
        contact=str(row[0]),
        received_host=str(row[1]),
        received_port=int(row[2]),  # type: ignore[call-overload]
        transport=str(row[3]),
        call_id=str(row[4]),
        cseq=int(row[5]),  # type: ignore[call-overload]
        user_agent=str(row[6]),
        expires_at=float(row[7]),  # type: ignore[arg-type]
        updated_at=float(row[8]),  # type: ignore[arg-type]
        instance_id=str(row[9]),
        reg_id=int(row[10]),  # type: ignore[call-overload]
    )


class RegistrationStore:
    def __init__(self, driver: Driver, cipher: Cipher) -> None:
        self.driver = driver
        self.cipher = cipher
        self.fence_node: str | None = None  # set by a cluster engine node (bindings)

    # -- cloud lines ----------------------------------------------------------------------

    async def cloud_lines(self, keep: Callable[[int, int], bool] | None = None) -> list[SipLine]:
        """Every cloud line (or those whose (portal_id, config_id) `keep` accepts: the others
        are not decrypted); yields to the event loop every few hundred rows, so a node
        loading 100,000 lines still renews its cluster lease."""
        rows = await self.driver.fetch_all(
            SELECT_LINES + " WHERE type = 'cloud' ORDER BY portal_id, config_id"
        )
        found = []
        for n, row in enumerate(rows):
            if keep is None or keep(int(row[0]), int(row[2])):
                found.append(line_from_row(row, self.cipher))
            if n % 500 == 499:
                await asyncio.sleep(0)
        return found

    async def cloud_line(self, portal_id: int, config_id: int) -> SipLine | None:
        row = await self.driver.fetch_one(
            SELECT_LINES + " WHERE portal_id = ? AND config_id = ? AND type = 'cloud'",
            (portal_id, config_id),
        )
        return line_from_row(row, self.cipher) if row else None

    async def lines_mark(self) -> int | None:
        """PostgreSQL: the change counter of the lines table (storage/mark_schema.py: every
        statement writing lines, from any process, moves it in its own transaction); None on
        SQLite, which has no such counter."""
        if self.driver.dialect != "postgres":
            return None
        row = await self.driver.fetch_one("SELECT sum(lines)::bigint FROM cache_marks")
        return None if row is None or row[0] is None else int(row[0])

    async def cloud_markers(self) -> list[tuple[int, int, float | None]]:
        """(portal_id, config_id, registration_updated_at) of every cloud line."""
        rows = await self.driver.fetch_all(
            "SELECT portal_id, config_id, registration_updated_at FROM lines WHERE type = 'cloud'"
        )
        found = []
        for n, r in enumerate(rows):
            found.append((int(r[0]), int(r[1]), None if r[2] is None else float(r[2])))
            if n % 2000 == 1999:
                await asyncio.sleep(0)  # the engine's beat must not wait for 100,000 rows
        return found

    def _cas_sql(self, expected: float | None, fenced: bool = False) -> str:
        same = "IS NOT DISTINCT FROM ?" if self.driver.dialect == "postgres" else "IS ?"
        guard = "IS NULL" if expected is None else same
        return (
            "UPDATE lines SET registration_result = ?, registration_status_code = ?,"
            " registration_error_message = ?, registration_updated_at = ?,"
            " version = version + 1"  # readers cache rows by version (storage/lines.py)
            " WHERE portal_id = ? AND config_id = ? AND type = 'cloud'"
            f" AND registration_updated_at {guard}"
            + (
                " AND EXISTS (SELECT 1 FROM engine_buckets"
                " WHERE bucket = ? AND node = ? AND token = ?)"
                if fenced
                else ""
            )
        )

    async def write_statuses(self, writes: Iterable[StatusWrite]) -> list[bool]:
        """Apply each compare-and-set in one transaction; True where it applied."""
        applied: list[bool] = []
        async with self.driver.transaction() as conn:
            for w in writes:
                params: list[object] = [
                    w.result.value,
                    w.status_code,
                    w.message,
                    w.new_marker,
                    w.portal_id,
                    w.config_id,
                ]
                if w.expected_marker is not None:
                    params.append(w.expected_marker)
                if w.fence is not None:
                    params.extend(w.fence)
                sql = self._cas_sql(w.expected_marker, w.fence is not None)
                changed = await conn.execute(sql, params)
                applied.append(changed > 0)
        return applied

    # -- office lines and their bindings --------------------------------------------------

    async def office_lines(self, incoming_login: str, host: str) -> list[tuple[SipLine, str]]:
        """The office lines whose INCOMING_LOGIN is `incoming_login` (see the rules above),
        each with the digest algorithm it is challenged with (one query)."""
        rows = await self.driver.fetch_all(
            _SELECT_OFFICE + " WHERE incoming_login = ? AND type = 'office' LIMIT 50",
            (incoming_login,),
        )
        found = [(line_from_row(row[:-1], self.cipher), _algorithm(row[-1])) for row in rows]
        if len(found) > 1:
            named = [f for f in found if _host_of(f[0].incoming_server) == host.lower()]
            found = named or found
        return found

    async def office_algorithm(self, portal_id: int, config_id: int) -> str:
        """The digest algorithm an office line is challenged with (MD5 unless opted in)."""
        row = await self.driver.fetch_one(
            "SELECT incoming_algorithm FROM lines"
            " WHERE portal_id = ? AND config_id = ? AND type = 'office'",
            (portal_id, config_id),
        )
        return _algorithm(row[0] if row else None)

    async def set_office_algorithm(self, portal_id: int, config_id: int, algorithm: str) -> bool:
        """Opt an office line in to (or back out of) a digest algorithm; False: no such line."""
        if algorithm not in DIGEST_ALGORITHMS:
            raise ValueError(f"digest algorithm must be one of {', '.join(DIGEST_ALGORITHMS)}")
        changed = await self.driver.execute(
            "UPDATE lines SET incoming_algorithm = ?"
            " WHERE portal_id = ? AND config_id = ? AND type = 'office'",
            (algorithm, portal_id, config_id),
        )
        return changed > 0

    async def office_algorithms(self) -> list[tuple[str, str, str]]:
        """(INCOMING_LOGIN, INCOMING_SERVER, algorithm) of every line opted in to non-MD5."""
        rows = await self.driver.fetch_all(
            "SELECT incoming_login, incoming_server, incoming_algorithm FROM lines"
            " WHERE type = 'office' AND incoming_algorithm <> 'MD5'"
        )
        return [
            (str(r[0]), str(r[1] or ""), str(r[2]))
            for r in rows
            if r[0] and r[2] in DIGEST_ALGORITHMS
        ]

    async def bindings(
        self, portal_id: int, config_id: int, *, now: float | None = None
    ) -> list[OfficeBinding]:
        return await read_bindings(self.driver, "bindings", "config_id", portal_id, config_id, now)

    async def apply_bindings(
        self,
        portal_id: int,
        config_id: int,
        upserts: Sequence[OfficeBinding],
        removals: Sequence[str],
    ) -> bool:
        """Replace the given contacts' rows and delete the removed ones, atomically; False
        (nothing written) when this node is fenced off (its cluster lease ran out)."""
        async with self.driver.transaction() as conn:
            if self.fence_node is not None:
                live = await conn.fetch_one(
                    "SELECT 1 FROM engine_nodes WHERE id = ?"
                    " AND lease_until > extract(epoch from clock_timestamp())",
                    (self.fence_node,),
                )
                if live is None:
                    return False
            for contact in [*removals, *(b.contact for b in upserts)]:
                await conn.execute(
                    "DELETE FROM bindings WHERE portal_id = ? AND config_id = ? AND contact = ?",
                    (portal_id, config_id, contact),
                )
            for b in upserts:
                await conn.execute(
                    f"INSERT INTO bindings (portal_id, config_id, {BINDING_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (portal_id, config_id, *binding_values(b)),
                )
        return True

    async def delete_expired(self, now: float) -> int:
        return await self.driver.execute("DELETE FROM bindings WHERE expires_at <= ?", (now,))

    async def lapsing(self, now: float) -> list[tuple[int, int, float]]:
        """(portal_id, config_id, when the last one expired) of the office lines whose
        bindings have all expired (before ``delete_expired`` removes them)."""
        return await lapsing(self.driver, "bindings", "config_id", now)


async def lapsing(driver: Driver, table: str, key: str, now: float) -> list[tuple[int, int, float]]:
    """The subjects of ``table`` (office lines, users' phones) left with no live binding."""
    rows = await driver.fetch_all(
        f"SELECT portal_id, {key}, MAX(expires_at) FROM {table} b WHERE expires_at <= ?"
        f" AND NOT EXISTS (SELECT 1 FROM {table} c WHERE c.portal_id = b.portal_id"
        f" AND c.{key} = b.{key} AND c.expires_at > ?) GROUP BY portal_id, {key}",
        (now, now),
    )
    return [(int(r[0]), int(r[1]), float(r[2])) for r in rows]


async def read_bindings(
    driver: Driver, table: str, key: str, portal_id: int, owner: int, now: float | None
) -> list[OfficeBinding]:
    """The bindings of one subject of ``table`` (an office line's, a user's phone's), by
    contact; with ``now``, only those still live."""
    sql = f"SELECT {BINDING_COLUMNS} FROM {table} WHERE portal_id = ? AND {key} = ?"
    params: list[object] = [portal_id, owner]
    if now is not None:
        sql += " AND expires_at > ?"
        params.append(now)
    rows = await driver.fetch_all(sql + " ORDER BY contact", params)
    return [binding_from_row(row) for row in rows]


def binding_values(b: OfficeBinding) -> tuple[object, ...]:
    """A binding's values in the order of ``BINDING_COLUMNS``."""
    return (
        b.contact,
        b.received_host,
        b.received_port,
        b.transport,
        b.call_id,
        b.cseq,
        b.user_agent,
        b.expires_at,
        b.updated_at,
        b.instance_id,
        b.reg_id,
    )


_SELECT_OFFICE = SELECT_LINES.replace(" FROM lines", ", incoming_algorithm FROM lines", 1)


def _algorithm(stored: object) -> str:
    return str(stored) if stored in DIGEST_ALGORITHMS else "MD5"


def _host_of(server: str | None) -> str:
    """INCOMING_SERVER without a port: ``127.0.0.1:5070`` -> ``127.0.0.1``."""
    text = (server or "").lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    head, colon, tail = text.rpartition(":")
    return head if colon and tail.isdigit() and ":" not in head else text
