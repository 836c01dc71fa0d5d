"""The request journal's own CPU per call, measured alone (issue 12; part of
`bench/run --journal`).

    .venv/bin/python bench/journal_cost.py [--calls 30000] [--batch 600] [--size 10000]

An in-process app (SQLite file, 10 portals x 100 lines, `bench/journal_overhead.py`'s
set-up) answers each scenario's calls (page, one, add, with the bodies of
`bench/lua/trunkline.lua`) while a recorder keeps the `CallRecord`s its observers get. Those
records are then handed to a fresh journal observer and writer on the same database, with
the journal already full (`--size` rows, so every flush also drops the oldest), and written
every `--batch` calls (what `journal_flush_ms` gathers at the server's rate). CPU time of
the whole process (`time.process_time`: the call's append, the flush's values, masking,
encoding, INSERT and trimming, the WAL checkpoint thread) per call is the journal's cost,
free of the rest of the request and of most of the noise of a shared machine. Prints one
JSON object: µs per call per scenario (median of the rounds) and the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from journal_overhead import prepare

from trunkline.rest.record import CallRecord
from trunkline.services.journal import JournalWriter
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.url import DatabaseUrl
from trunkline.web.app import TrunklineApp
from trunkline.web.journal import JournalObserver

SCENARIOS = ("page", "one", "add")


async def records(app: TrunklineApp, portals: list[tuple[str, str, int]], scenario: str, n: int):
    """The CallRecords of ``n`` calls of ``scenario`` (bodies as bench/lua/trunkline.lua's)."""
    assert app.rest is not None
    found: list[CallRecord] = []
    observers = app.rest.dispatcher.observers
    observers.append(found.append)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for k in range(n):
                domain, hook, lines = portals[k % len(portals)]
                headers = {"host": domain, "content-type": "application/json"}
                if scenario == "page":
                    method, body = "voximplant.sip.get", "{}"
                elif scenario == "one":
                    method = "voximplant.sip.get"
                    body = f'{{"FILTER":{{"CONFIG_ID":{(k * 37) % lines + 1}}}}}'
                else:
                    method = "voximplant.sip.add"
                    body = (
                        f'{{"TYPE":"office","TITLE":"bench cost {k}","SERVER":"pbx.example.com",'
                        f'"LOGIN":"user{k}","PASSWORD":"secret{k}"}}'
                    )
                answer = await client.post(hook + method, content=body, headers=headers)
                assert answer.status_code == 200, answer.text
    finally:
        observers.remove(found.append)
    return found


async def cost(app: TrunklineApp, calls: list[CallRecord], batch: int, size: int) -> float:
    """CPU µs per call of a fresh observer and writer journaling ``calls``."""
    assert app.services is not None and app.store is not None
    writer = JournalWriter(app.store.journal, app.clock, size=size, flush_ms=200)
    observe = JournalObserver(writer, app.clock)
    for call in calls[: size + batch]:  # a full journal: every flush drops the oldest too
        observe(call)
    await writer.flush()
    began = time.process_time()
    for first in range(0, len(calls), batch):
        for call in calls[first : first + batch]:
            observe(call)
        await writer.flush()
    return (time.process_time() - began) / len(calls) * 1e6


async def run(
    calls: int, batch: int, size: int, rounds: int, scenarios: list[str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trunkline-journal-cost-") as directory:
        url = f"sqlite:///{Path(directory) / 'cost'}.sqlite3"
        migrate.upgrade(DatabaseUrl(url))
        settings = Settings(
            database_url=url,
            sip_engine="off",
            access_log=False,
            control_poll_ms=0,
            key_file=str(Path(directory) / "cost.key"),
            journal_size=0,  # the app journals nothing itself: the records are replayed
        )
        app = TrunklineApp(settings)
        await app.startup()
        try:
            portals = await prepare(app)
            portals = [(domain, hook, 100) for domain, hook, _ in portals]
            result: dict[str, Any] = {"calls": calls, "batch": batch, "journal_size": size}
            for scenario in scenarios:
                made = await records(app, portals, scenario, min(calls, 2000))
                replay = (made * (calls // len(made) + 1))[:calls]
                runs = [await cost(app, replay, batch, size) for _ in range(rounds)]
                result[scenario] = {
                    "us_per_call": round(statistics.median(runs), 2),
                    "rounds": [round(r, 2) for r in runs],
                }
        finally:
            await app.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30_000, help="calls replayed per round")
    parser.add_argument("--batch", type=int, default=600, help="calls per flush (600)")
    parser.add_argument("--size", type=int, default=10_000, help="journal_size (10000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="page,one,add")
    a = parser.parse_args()
    scenarios = [s for s in a.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s} (known: {', '.join(SCENARIOS)})")
    print(json.dumps(asyncio.run(run(a.calls, a.batch, a.size, a.rounds, scenarios))))


if __name__ == "__main__":
    main()
