"""The request journal's observer (``web/journal.py``): a call handed to the writer as its
row's values, nothing kept that the garbage collector must follow but the parameters."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import orjson

from trunkline.domain.clock import Clock
from trunkline.domain.portals import Portal, User
from trunkline.domain.principal import OAUTH, WEBHOOK, Principal
from trunkline.rest.record import CallRecord
from trunkline.services.journal import FIELDS, JournalWriter
from trunkline.web.journal import JournalObserver

PORTAL = Portal(1, "a.example", "m1", "A", "UTC", "en", "project")
USER = User(1, 7, "admin", "Ad", "Min", True, True, True)


class Rows:
    """A repository that keeps what it is asked to write."""

    def __init__(self) -> None:
        self.values: list[object] = []

    async def write_values(self, values: list[object], keep: int) -> None:
        self.values += values


def test_observer_hands_over_the_rows_values_and_nothing_tracked(caplog):
    rows = Rows()
    writer = JournalWriter(rows, Clock(lambda: 1000.0), size=10, flush_ms=200)  # type: ignore[arg-type]
    observe = JournalObserver(writer, writer.clock)
    params = orjson.loads(b'{"FILTER":{"CONFIG_ID":7},"PASSWORD":"s"}')
    hook = Principal(PORTAL, USER, WEBHOOK, frozenset({"telephony"}), webhook_id=3)
    app = Principal(PORTAL, USER, OAUTH, frozenset({"telephony"}), app_id="local.1")
    observe(CallRecord("voximplant.sip.get", params, hook, "x", 200, None, 0.002))
    observe(CallRecord("voximplant.sip.add", {}, app, None, 200, None, 0.001, batch=True))
    observe(CallRecord("m", {}, None, "B.Example:8443", 401, "INVALID_CREDENTIALS", 0.0))
    pending: list[Any] = writer.pending
    assert len(pending) == 3 * FIELDS
    # Held until the next flush: only the parameters, as parsed, are objects the collector
    # follows (no record, no tuple per call).
    assert [v for v in pending if gc.is_tracked(v)] == [params]
    asyncio.run(writer.flush())
    assert writer.pending == [] and pending is writer.pending
    assert rows.values == [
        *(1000.0, "a.example", "webhook:3", 7, "voximplant.sip.get"),
        *('{"FILTER":{"CONFIG_ID":7},"PASSWORD":"***"}', 200, None, 2.0, False),
        *(1000.0, "a.example", "app:local.1", 7, "voximplant.sip.add", "{}", 200, None, 1.0, True),
        *(1000.0, "b.example", None, None, "m", "{}", 401, "INVALID_CREDENTIALS", 0.0, False),
    ]
    assert (writer.rows_written, writer.flushes) == (3, 1) and writer.flush_cpu >= 0
    with caplog.at_level(logging.INFO, "trunkline.journal"):
        asyncio.run(writer.stop())
    assert "request journal: 3 rows written in 1 flushes" in caplog.text
