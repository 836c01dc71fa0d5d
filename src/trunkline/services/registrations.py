"""What operators read of registrations: each line's history, an office line's bindings.

The history's rules are in ``domain/history.py``; paging is the API's: ``limit`` (1 to
``MAX_PAGE``) entries from ``offset``, newest first, with the line's ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from trunkline.domain.history import HistoryEntry
from trunkline.domain.lines import OfficeBinding
from trunkline.storage.history import HistoryRepository
from trunkline.storage.registrations import RegistrationStore

__all__ = ["MAX_PAGE", "HistoryPage", "RegistrationService"]

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class HistoryPage:
    total: int
    entries: list[HistoryEntry]


class RegistrationService:
    def __init__(self, history: HistoryRepository, registrations: RegistrationStore) -> None:
        self._history = history
        self._registrations = registrations

    async def history(
        self,
        portal_id: int,
        config_id: int,
        *,
        limit: int = 50,
        offset: int = 0,
        phone: bool = False,
    ) -> HistoryPage:
        """A line's history page (a user's phone's: ``phone``, with the USER_ID)."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_PAGE}")
        if offset < 0:
            raise ValueError("offset must be 0 or more")
        total = await self._history.count(portal_id, config_id, phone=phone)
        entries = await self._history.entries(
            portal_id, config_id, limit=limit, offset=offset, phone=phone
        )
        # The engine may write between the two reads: the page is never past the total.
        return HistoryPage(max(total, offset + len(entries)), entries)

    async def last_transaction(
        self, portal_id: int, config_id: int, *, phone: bool = False
    ) -> HistoryEntry | None:
        """The newest entry that has SIP messages (the pcap's source)."""
        offset = 0
        while True:
            page = await self._history.entries(
                portal_id, config_id, limit=50, offset=offset, phone=phone
            )
            for entry in page:
                if entry.messages:
                    return entry
            if len(page) < 50:
                return None
            offset += 50

    async def ops_webhook(self, portal_id: int) -> str | None:
        return (await self._history.ops_webhooks([portal_id])).get(portal_id)

    async def set_ops_webhook(self, portal_id: int, url: str | None) -> None:
        """Set a portal's plain ops webhook (an http(s) URL), or clear it with None."""
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
                raise ValueError("url must be an http or https URL with a host")
        await self._history.set_ops_webhook(portal_id, url)

    async def bindings(self, portal_id: int, config_id: int) -> list[OfficeBinding]:
        return await self._registrations.bindings(portal_id, config_id)
