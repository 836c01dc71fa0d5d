"""The web console's reads: narrow SELECTs over the tables it shows, paged by ``start``.

Rules:

* Pages hold ``PAGE`` (50) rows from ``start``, as ``voximplant.sip.get`` pages; each read
  also returns the total, so the console can draw the pager.
* Nothing here decrypts a secret: the columns read are the ones the console shows.
* Lines come in CONFIG_ID order, calls and deliveries newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trunkline.storage.driver import Driver

__all__ = ["PAGE", "ConsoleReads", "LineRow", "Page"]

PAGE = 50


@dataclass(frozen=True, slots=True)
class LineRow:
    config_id: int
    type: str
    title: str
    server: str
    login: str
    incoming_login: str
    result: str | None
    status_code: int | None
    message: str | None
    updated_at: float | None
    bindings: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    start: int
    rows: list[Any]

    @property
    def next(self) -> int | None:
        return self.start + PAGE if self.start + PAGE < self.total else None

    @property
    def previous(self) -> int | None:
        return max(0, self.start - PAGE) if self.start > 0 else None


def _dicts(names: Sequence[str], rows: Sequence[Sequence[object]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


class ConsoleReads:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def portal_counts(self) -> dict[int, dict[str, int]]:
        """Per portal: lines by type, cloud lines registered."""
        rows = await self.driver.fetch_all(
            "SELECT portal_id, type, COUNT(*),"
            " SUM(CASE WHEN registration_result = 'success' THEN 1 ELSE 0 END)"
            " FROM lines GROUP BY portal_id, type"
        )
        found: dict[int, dict[str, int]] = {}
        for portal_id, kind, count, registered in rows:
            entry = found.setdefault(int(portal_id), {"cloud": 0, "office": 0, "registered": 0})
            entry[str(kind)] = int(count)
            if kind == "cloud":
                entry["registered"] = int(registered or 0)
        return found

    async def lines(self, portal_id: int, start: int, now: float) -> Page:
        total_row = await self.driver.fetch_one(
            "SELECT COUNT(*) FROM lines WHERE portal_id = ?", (portal_id,)
        )
        rows = await self.driver.fetch_all(
            "SELECT config_id, type, title, server, login, incoming_login, registration_result,"
            " registration_status_code, registration_error_message, registration_updated_at"
            " FROM lines WHERE portal_id = ? ORDER BY config_id LIMIT ? OFFSET ?",
            (portal_id, PAGE, start),
        )
        ids = [int(r[0]) for r in rows]
        bound: dict[int, int] = {}
        if ids:
            marks = ", ".join("?" for _ in ids)
            counted = await self.driver.fetch_all(
                "SELECT config_id, COUNT(*) FROM bindings WHERE portal_id = ?"
                f" AND expires_at > ? AND config_id IN ({marks}) GROUP BY config_id",
                (portal_id, now, *ids),
            )
            bound = {int(r[0]): int(r[1]) for r in counted}
        lines = [
            LineRow(
                int(r[0]),
                str(r[1]),
                str(r[2] or ""),
                str(r[3] or ""),
                str(r[4] or ""),
                str(r[5] or ""),
                None if r[6] is None else str(r[6]),
                None if r[7] is None else int(r[7]),
                None if r[8] is None else str(r[8]),
                None if r[9] is None else float(r[9]),
                bound.get(int(r[0]), 0),
            )
            for r in rows
        ]
        return Page(int(total_row[0]) if total_row else 0, start, lines)

    async def line(self, portal_id: int, config_id: int, now: float) -> LineRow | None:
        rows = await self.driver.fetch_all(
            "SELECT config_id, type, title, server, login, incoming_login, registration_result,"
            " registration_status_code, registration_error_message, registration_updated_at"
            " FROM lines WHERE portal_id = ? AND config_id = ?",
            (portal_id, config_id),
        )
        if not rows:
            return None
        r = rows[0]
        return LineRow(
            int(r[0]),
            str(r[1]),
            str(r[2] or ""),
            str(r[3] or ""),
            str(r[4] or ""),
            str(r[5] or ""),
            None if r[6] is None else str(r[6]),
            None if r[7] is None else int(r[7]),
            None if r[8] is None else str(r[8]),
            None if r[9] is None else float(r[9]),
        )

    async def phones(self, portal_id: int, now: float) -> list[dict[str, Any]]:
        """Users' SIP phones with a live binding."""
        names = ("user_id", "contact", "received", "transport", "user_agent", "expires_at")
        rows = await self.driver.fetch_all(
            "SELECT user_id, contact, received_host || ':' || received_port, transport,"
            " user_agent, expires_at FROM phone_bindings WHERE portal_id = ? AND expires_at > ?"
            " ORDER BY user_id, contact LIMIT 500",
            (portal_id, now),
        )
        return _dicts(names, rows)

    async def calls(self, portal_id: int, start: int) -> Page:
        """Finished calls (the statistics rows), newest first."""
        total = await self.driver.fetch_one(
            "SELECT COUNT(*) FROM call_statistics WHERE portal_id = ?", (portal_id,)
        )
        names = (
            "id", "call_id", "call_type", "phone_number", "portal_user_id", "duration",
            "started_at", "failed_code", "failed_reason", "line_id",
        )  # fmt: skip
        rows = await self.driver.fetch_all(
            f"SELECT {', '.join(names)} FROM call_statistics WHERE portal_id = ?"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (portal_id, PAGE, start),
        )
        return Page(int(total[0]) if total else 0, start, _dicts(names, rows))

    async def live_calls(self, portal_id: int) -> list[dict[str, Any]]:
        names = ("call_id", "call_type", "phone_number", "user_id", "started_at", "line_id")
        rows = await self.driver.fetch_all(
            f"SELECT {', '.join(names)} FROM calls WHERE portal_id = ?"
            " ORDER BY started_at DESC LIMIT 200",
            (portal_id,),
        )
        return _dicts(names, rows)

    async def call(self, portal_id: int, call_id: str) -> dict[str, Any] | None:
        names = ("call_id", "call_type", "phone_number", "portal_user_id", "duration",
                 "started_at", "failed_code", "failed_reason", "line_id")  # fmt: skip
        rows = await self.driver.fetch_all(
            f"SELECT {', '.join(names)} FROM call_statistics WHERE portal_id = ? AND call_id = ?",
            (portal_id, call_id),
        )
        if rows:
            return _dicts(names, rows)[0]
        live = [c for c in await self.live_calls(portal_id) if c["call_id"] == call_id]
        return {**live[0], "duration": None} if live else None

    async def deliveries(
        self,
        portal_id: int | None,
        start: int,
        *,
        since: float | None = None,
        until: float | None = None,
        call_events: bool = False,
    ) -> Page:
        """The event delivery journal, newest first (optionally a time window of call
        events)."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if portal_id is not None:
            where.append("portal_id = ?")
            params.append(portal_id)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at <= ?")
            params.append(until)
        if call_events:
            where.append("(event LIKE 'ONVOXIMPLANTCALL%' OR event LIKE 'ONEXTERNALCALL%')")
        clause = " AND ".join(where)
        total = await self.driver.fetch_one(
            f"SELECT COUNT(*) FROM event_journal WHERE {clause}", params
        )
        names = ("id", "portal_id", "event", "outcome", "reason", "handler", "attempt",
                 "status", "duration_ms", "at", "app_id")  # fmt: skip
        rows = await self.driver.fetch_all(
            f"SELECT {', '.join(names)} FROM event_journal WHERE {clause}"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, PAGE, start),
        )
        return Page(int(total[0]) if total else 0, start, _dicts(names, rows))

    async def requests(self, portal: str | None, start: int) -> Page:
        """The request journal, newest first (``portal``: one portal's domain)."""
        where, params = ("portal = ?", [portal]) if portal else ("1 = 1", [])
        total = await self.driver.fetch_one(f"SELECT COUNT(*) FROM requests WHERE {where}", params)
        names = ("id", "at", "portal", "principal", "method", "http_status", "error_code",
                 "duration_ms", "batch")  # fmt: skip
        rows = await self.driver.fetch_all(
            f"SELECT {', '.join(names)} FROM requests WHERE {where}"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, PAGE, start),
        )
        return Page(int(total[0]) if total else 0, start, _dicts(names, rows))
