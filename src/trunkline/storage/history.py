"""The registration history table: entries appended by the engine, bounded per line.

Rules:

* ``append`` writes a batch of entries in one transaction, then trims each line it touched
  to its newest ``keep`` entries (one DELETE per line; ids grow, so "newest" is "highest
  id"). The trim runs whatever was there before: lowering ``history_limit`` applies at the
  line's next change.
* Readers page newest first (``limit``/``offset``, as the API pages).
* Lines (kinds ``cloud``, ``office``) and users' phones (kind ``phone``, the USER_ID in
  ``config_id``) are read and trimmed apart.
* The transaction is stored as JSON text (``domain/history.py`` builds and reads it); the
  history never holds a password or a digest response. Text of 2 KiB or more that zlib
  makes smaller is stored compressed, as ``z:`` and its base64 (a JSON array never starts
  so): a cloud line's attempt with its challenge takes about half the room. A shorter one,
  such as a phone's REGISTER and its 200, is stored as it is (zlib's cost would be most of
  the entry's, for ~600 bytes). Rows of either form, and rows compressed before the
  threshold, read the same.
* The portals' plain ops webhook URLs (``ops_webhooks``, read after every batch the engine
  writes) are kept on SQLite while the driver's change mark stands (storage/changes.py: a
  write to ``portal_options`` by this process, any commit of another, moves it); PostgreSQL
  reads them each time (no counter covers ``portal_options``).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Sequence

import orjson

from trunkline.domain.history import OPS_WEBHOOK_OPTION, HistoryEntry, SipRecord
from trunkline.storage.driver import Connection, Driver

__all__ = ["HistoryRepository"]

_COLUMNS = (
    "id, portal_id, config_id, kind, at, from_state, to_state, from_code, status_code,"
    " reason, messages"
)


PHONE = "phone"  # a user's phone: its USER_ID in config_id
_WHERE_LINE = "portal_id = ? AND config_id = ? AND kind <> 'phone'"
_WHERE_PHONE = "portal_id = ? AND config_id = ? AND kind = 'phone'"


_PACKED = "z:"  # compressed messages (see the rules above)
# Shorter transactions are stored as they are: a phone's REGISTER and its 200 (~1.3 KB) would
# save ~600 B for ~176k instructions of zlib, 8 % of the engine's whole work for a phone's
# first registration (bench/sip/callgrind_engine.py); a cloud line's attempt with its
# challenge is longer and still compressed.
COMPRESS_FROM = 2048
MAX_KEPT_HOOKS = 4096  # portals whose ops webhook URL is kept


def _compressed(data: bytes) -> bytes:
    """A zlib stream of `data` with an 8 KiB window and small hash tables: a transaction's
    text is a few KiB, and `zlib.compress`'s 256 KiB of state, allocated and given back to
    the system for each entry, cost ~5x the compression itself (~100 against ~20 us for a
    REGISTER and its 200, the same bytes out). Level 1 (zlib's fastest) costs a sixth less
    than the default 6 for 4% more bytes (159k against 190k instructions, 517 against 495
    bytes for a REGISTER and its 200). `zlib.decompress` reads any window size or level."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 13, 5)
    return packer.compress(data) + packer.flush()


def _packed(messages: Sequence[SipRecord]) -> str:
    """The stored text of a transaction: its JSON (orjson: about a tenth of ``json.dumps``'s
    cost; non-ASCII text is kept as UTF-8 rather than escaped, which reads back the same),
    compressed when it is longer than `COMPRESS_FROM` and that makes it shorter."""
    text = orjson.dumps([m.json_fields() for m in messages])
    if len(text) < COMPRESS_FROM:
        return text.decode()
    packed = _PACKED + base64.b64encode(_compressed(text)).decode("ascii")
    return packed if len(packed) < len(text) else text.decode()


def _unpacked(stored: str) -> list[dict[str, object]]:
    if stored.startswith(_PACKED):
        stored = zlib.decompress(base64.b64decode(stored[len(_PACKED) :])).decode()
    found: list[dict[str, object]] = json.loads(stored)
    return found


def _entry(row: Sequence[object]) -> HistoryEntry:
    messages = _unpacked(str(row[10]))
    return HistoryEntry(
        portal_id=int(row[1]),  # type: ignore[call-overload]
        config_id=int(row[2]),  # type: ignore[call-overload]
        kind=str(row[3]),
        at=float(row[4]),  # type: ignore[arg-type]
        from_state=str(row[5]),
        to_state=str(row[6]),
        from_code=None if row[7] is None else int(row[7]),  # type: ignore[call-overload]
        status_code=None if row[8] is None else int(row[8]),  # type: ignore[call-overload]
        reason=str(row[9]),
        messages=tuple(SipRecord.from_json(m) for m in messages),
        entry_id=int(row[0]),  # type: ignore[call-overload]
    )


class HistoryRepository:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._hooks: dict[int, str | None] = {}  # portal id -> its URL (SQLite, see above)
        self._hooks_mark: object = None

    async def append(self, entries: Iterable[HistoryEntry], keep: int) -> None:
        async with self.driver.transaction() as conn:
            await self.append_on(conn, entries, keep)

    async def append_on(self, conn: Connection, entries: Iterable[HistoryEntry], keep: int) -> None:
        """``append`` inside the caller's transaction (events raised with it)."""
        batch = list(entries)
        lines = {(e.portal_id, e.config_id, e.kind == PHONE) for e in batch}
        for e in batch:
            await conn.execute(
                "INSERT INTO registration_history (portal_id, config_id, kind, at,"
                " from_state, to_state, from_code, status_code, reason, messages)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.portal_id,
                    e.config_id,
                    e.kind,
                    e.at,
                    e.from_state,
                    e.to_state,
                    e.from_code,
                    e.status_code,
                    e.reason[:255],
                    _packed(e.messages),
                ),
            )
        for portal_id, config_id, phone in lines:
            where = _WHERE_PHONE if phone else _WHERE_LINE
            await conn.execute(
                f"DELETE FROM registration_history WHERE {where} AND id <= (SELECT id"
                f" FROM registration_history WHERE {where} ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (portal_id, config_id, portal_id, config_id, max(1, keep)),
            )

    async def entries(
        self,
        portal_id: int,
        config_id: int,
        *,
        limit: int = 50,
        offset: int = 0,
        phone: bool = False,
    ) -> list[HistoryEntry]:
        """The line's entries (a user's phone's: ``phone`` with the USER_ID), newest first."""
        rows = await self.driver.fetch_all(
            f"SELECT {_COLUMNS} FROM registration_history"
            f" WHERE {_WHERE_PHONE if phone else _WHERE_LINE} ORDER BY id DESC LIMIT ? OFFSET ?",
            (portal_id, config_id, limit, offset),
        )
        return [_entry(row) for row in rows]

    async def count(self, portal_id: int, config_id: int, *, phone: bool = False) -> int:
        row = await self.driver.fetch_one(
            "SELECT COUNT(*) FROM registration_history"
            f" WHERE {_WHERE_PHONE if phone else _WHERE_LINE}",
            (portal_id, config_id),
        )
        return int(row[0]) if row else 0

    async def ops_webhooks(self, portal_ids: Iterable[int]) -> dict[int, str]:
        """The plain ops webhook URL of each of ``portal_ids`` that has one."""
        wanted = sorted(set(portal_ids))
        if not wanted:
            return {}
        mark = self.driver.change_mark()  # None: PostgreSQL, read each time
        kept = self._hooks
        if mark is not None:
            if mark != self._hooks_mark:
                kept.clear()
                self._hooks_mark = mark
            if all(p in kept for p in wanted):
                return {p: url for p in wanted if (url := kept[p]) is not None}
        marks = ", ".join("?" for _ in wanted)
        rows = await self.driver.fetch_all(
            "SELECT portal_id, value FROM portal_options"
            f" WHERE name = ? AND portal_id IN ({marks})",
            (OPS_WEBHOOK_OPTION, *wanted),
        )
        found = {int(r[0]): str(r[1]) for r in rows if r[1]}
        if mark is not None:
            if len(kept) > MAX_KEPT_HOOKS:
                kept.clear()
            for p in wanted:
                kept[p] = found.get(p)
        return found

    async def set_ops_webhook(self, portal_id: int, url: str | None) -> None:
        """Set (or with None clear) a portal's plain ops webhook URL."""
        if url is None:
            await self.driver.execute(
                "DELETE FROM portal_options WHERE portal_id = ? AND name = ?",
                (portal_id, OPS_WEBHOOK_OPTION),
            )
            return
        await self.driver.execute(
            "INSERT INTO portal_options (portal_id, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (portal_id, name) DO UPDATE SET value = excluded.value",
            (portal_id, OPS_WEBHOOK_OPTION, url),
        )
