"""The request journal's cost on the REST path, in-process: the same calls with the
journal off (`journal_size=0`) and on, rounds interleaved, CPU time per call.

    .venv/bin/python bench/journal_overhead.py [--calls 2000] [--rounds 5]

Two apps, each on its own SQLite file with the same 1,000 lines in 10 portals, called through
`httpx.ASGITransport` (no socket, so the HTTP stack does not dilute the difference):
`voximplant.sip.get` by CONFIG_ID, the first 50-row page, and `voximplant.sip.add`. CPU
time (`time.process_time`) per call includes the journal's batched writes (flushed at the
end of each round). Prints one JSON object: µs per call and the overhead in percent per
scenario (median of the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from trunkline.services.accounts import AccountService
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.url import DatabaseUrl
from trunkline.web.app import TrunklineApp

PORTALS = 10
LINES = 100


async def prepare(app: TrunklineApp) -> list[tuple[str, str, int]]:
    """Portals with lines; (host, webhook path, a CONFIG_ID) per portal."""
    assert app.services is not None
    accounts: AccountService = app.services.accounts
    found = []
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for p in range(PORTALS):
            portal = await accounts.create_portal(f"p{p}.bench.example")
            await accounts.create_user(portal, "admin", is_admin=True, user_id=1)
            code = (await accounts.create_webhook(portal, 1, ["telephony"])).code
            hook = f"/rest/1/{code}/"
            host = {"host": portal.domain}
            config_id = 0
            for i in range(LINES):
                body = {"TYPE": "office", "TITLE": f"l{i}", "SERVER": "pbx", "LOGIN": f"u{i}"}
                made = await client.post(hook + "voximplant.sip.add", json=body, headers=host)
                assert made.status_code == 200, made.text
                config_id = int(made.json()["result"]["CONFIG_ID"])
            found.append((portal.domain, hook, config_id))
    return found


async def round_of(
    app: TrunklineApp, portals: list[tuple[str, str, int]], scenario: str, calls: int
) -> float:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        began = time.process_time()
        for n in range(calls):
            domain, hook, config_id = portals[n % len(portals)]
            headers = {"host": domain}
            if scenario == "one":
                body: dict[str, Any] = {"FILTER": {"CONFIG_ID": config_id}}
                await client.post(hook + "voximplant.sip.get", json=body, headers=headers)
            elif scenario == "page":
                await client.post(hook + "voximplant.sip.get", json={}, headers=headers)
            else:
                body = {
                    "TYPE": "office",
                    "TITLE": f"x{time.perf_counter_ns()}",
                    "SERVER": "s",
                    "LOGIN": "l",
                }
                await client.post(hook + "voximplant.sip.add", json=body, headers=headers)
        if app.journal is not None:
            await app.journal.flush()
        return (time.process_time() - began) / calls * 1e6


async def run(calls: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trunkline-journal-") as directory:
        apps = {}
        for name, size in (("off", 0), ("on", 100_000)):
            url = f"sqlite:///{Path(directory) / name}.sqlite3"  # one database each
            migrate.upgrade(DatabaseUrl(url))
            settings = Settings(
                database_url=url,
                sip_engine="off",
                access_log=False,
                control_poll_ms=0,
                key_file=str(Path(directory) / f"{name}.key"),
                journal_size=size,
            )
            apps[name] = TrunklineApp(settings)
            await apps[name].startup()
        off, on = apps["off"], apps["on"]
        try:
            portals = {"off": await prepare(off), "on": await prepare(on)}
            result: dict[str, Any] = {"calls_per_round": calls, "rounds": rounds}
            for scenario in ("one", "page", "add"):
                times: dict[str, list[float]] = {"off": [], "on": []}
                await round_of(off, portals["off"], scenario, calls // 4)  # warm-up
                await round_of(on, portals["on"], scenario, calls // 4)
                for _ in range(rounds):
                    times["off"].append(await round_of(off, portals["off"], scenario, calls))
                    times["on"].append(await round_of(on, portals["on"], scenario, calls))
                off_us = statistics.median(times["off"])
                on_us = statistics.median(times["on"])
                result[scenario] = {
                    "off_us": round(off_us, 1),
                    "on_us": round(on_us, 1),
                    "overhead_pct": round((on_us / off_us - 1) * 100, 1),
                }
        finally:
            await on.shutdown()
            await off.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.rounds))))


if __name__ == "__main__":
    main()
