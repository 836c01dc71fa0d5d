#!/usr/bin/env python3
"""Where a register + finish pair's time goes inside Trunkline, without HTTP or wrk.

    .venv/bin/python bench/telephony/profile_pair.py bench/out/telephony-10k.sqlite3 \
        [--pairs 2000] [--concurrency 32] [--sql] [--cprofile]

Starts the application as a uvicorn worker does (``TrunklineApp`` and its start-up) on a
database made by ``bench/telephony/run`` and calls the ASGI application directly with the
requests ``lua/telephony.lua`` sends: ``telephony.externalCall.register`` of a new number
in the last portal, then ``telephony.externalCall.finish`` of its CALL_ID. It prints the
CPU per pair (``time.process_time``: one thread, so other load barely matters), next to
the baseline's Starlette handler called the same way (two requests), and optionally:

* ``--sql``: each SQL statement per pair (count and wall µs, execute plus fetch);
* ``--cprofile``: the top functions by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["TRUNKLINE_SIP_ENGINE"] = "off"

import baseline_app  # noqa: E402  (bench/baseline_app.py)
from profile_path import TimedConnection, call  # noqa: E402  (bench/profile_path.py)

from trunkline.settings import Settings  # noqa: E402
from trunkline.web.app import TrunklineApp  # noqa: E402

CALL_ID = re.compile(rb'"CALL_ID":"([^"]+)"')


def pair_maker(app: Any, hook: str, tag: str) -> Callable[[], Awaitable[None]]:
    """A register + finish pair of a new number in the portal of ``hook``, as
    ``lua/telephony.lua`` sends them (EXTERNAL_CALL_ID ``<tag>-<n>``), each call checked."""
    made = 0

    async def pair() -> None:
        nonlocal made
        made += 1
        body = b'{"USER_ID":1,"PHONE_NUMBER":"7%010d","TYPE":2,"EXTERNAL_CALL_ID":"%s-%d"}' % (
            made,
            tag.encode(),
            made,
        )
        r = await call(app, hook + "telephony.externalCall.register", body)
        assert r.status == 200, r.body[:300]
        found = CALL_ID.search(r.body)
        assert found is not None, r.body[:300]
        body = b'{"CALL_ID":"%s","USER_ID":1,"DURATION":%d}' % (found.group(1), made % 90)
        r = await call(app, hook + "telephony.externalCall.finish", body)
        assert r.status == 200, r.body[:300]

    return pair


async def main_async(args: argparse.Namespace) -> None:
    db = Path(args.db).resolve()
    manifest = json.loads(Path(f"{db}.json").read_text())
    portal = int(manifest["portals"])
    hook = f"/rest/1/bench{portal:011d}/"
    app = TrunklineApp(Settings.from_env(database_url=f"sqlite:///{db}"))
    await app.startup()
    assert app.store is not None
    pair = pair_maker(app, hook, f"prof{int(time.time())}")

    async def baseline() -> None:
        for _ in range(2):
            r = await call(
                baseline_app.app,
                "/rest/1/abc/voximplant.sip.get",
                b'{"auth":"2b7e3f9a8c1d4e5f6a7b8c9d0e1f2a3b","FILTER":{"TYPE":"cloud"},"start":0}',
            )
            assert r.status == 200

    n, tasks = args.pairs, max(1, args.concurrency)

    async def run(fn: Any, count: int) -> None:
        """``count`` calls of ``fn`` by ``tasks`` tasks at once (wrk's connections: the
        group commit then carries several writers, as under load)."""

        async def worker(share: int) -> None:
            for _ in range(share):
                await fn()

        await asyncio.gather(*(worker(count // tasks) for _ in range(tasks)))

    for fn in (baseline, pair):
        await run(fn, min(200, n))
    results = {}
    for label, fn in (("baseline (2 Starlette requests)", baseline), ("register + finish", pair)):
        t0 = time.process_time()
        await run(fn, n)
        results[label] = (time.process_time() - t0) / (n // tasks * tasks) * 1e6
    print(f"# In-process CPU per pair ({db.name}, portal {portal}; {n} pairs, {tasks} at once)\n")
    print("| path | µs/pair |\n|---|---|")
    for label, us in results.items():
        print(f"| {label} | {us:.0f} |")

    if args.sql:
        driver: Any = app.store.driver
        timed_db = TimedConnection(driver._cursor)
        driver._cursor = timed_db
        t0 = time.process_time()
        await run(pair, n)
        total = (time.process_time() - t0) / n * 1e6
        driver._cursor = timed_db._db
        in_sql = sum(v[1] for v in timed_db.stats.values()) / n * 1e6
        per_pair = sum(v[0] for v in timed_db.stats.values()) / n
        print(
            f"\n### SQL per pair ({n} pairs; {total:.0f} µs CPU a pair with the wrapper, "
            f"{per_pair:.1f} statements, {in_sql:.0f} µs wall in SQL)\n"
        )
        print("| statement | per pair | µs each |\n|---|---|---|")
        for key, (count, secs) in sorted(timed_db.stats.items(), key=lambda kv: -kv[1][1]):
            print(f"| `{key}` | {count / n:.1f} | {secs / count * 1e6:.1f} |")

    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        await run(pair, n)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
        text = out.getvalue()
        print(f"\n### cProfile ({n} pairs; times include cProfile's overhead)\n")
        print(text[text.find("   ncalls") :])
    await app.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="a database made by bench/telephony/run (its .json beside it)")
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=1, help="pairs in flight at once")
    ap.add_argument("--sql", action="store_true", help="also time each SQL statement")
    ap.add_argument("--cprofile", action="store_true", help="also print cProfile top functions")
    ap.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumtime)")
    ap.add_argument("--top", type=int, default=40)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
