#!/usr/bin/env python3
"""Where a ``voximplant.statistic.get`` page's time goes inside Trunkline, without HTTP.

    .venv/bin/python bench/telephony/profile_page.py bench/out/telephony-1M.sqlite3 \
        [--pages 20000] [--cold] [--cprofile] [--callgrind WARM MEASURED]

Starts the application as a uvicorn worker does on a database made by
``bench/telephony/run`` and calls the ASGI application directly with the requests
``lua/telephony.lua`` sends in ``page`` mode: ``POST {}`` to the webhooks of the portals
the harness reads (up to 1,000 of them, spread through the database, in turn). It prints
the CPU per page (``time.process_time``) and the wall time, warm (every page kept, as in
the harness after its warm-up) and, with ``--cold``, with the page caches emptied before
every request (the SELECT and the COUNT each time), next to the baseline's handler.

* ``--cprofile``: the top functions by own time (warm);
* ``--callgrind WARM MEASURED``: only WARM then MEASURED warm pages and leave at once (for
  ``valgrind --tool=callgrind``: run it with two MEASURED counts and subtract).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["TRUNKLINE_SIP_ENGINE"] = "off"

import baseline_app  # noqa: E402  (bench/baseline_app.py)
from profile_path import call  # noqa: E402  (bench/profile_path.py)

from trunkline.methods import statistic  # noqa: E402
from trunkline.settings import Settings  # noqa: E402
from trunkline.storage import calls as call_storage  # noqa: E402
from trunkline.web.app import TrunklineApp  # noqa: E402


def page_hooks(portals: int, only: int | None = None) -> list[str]:
    """The portals bench.py's stat-page scenario reads: 1, 1+step, ... (count of them);
    ``only``: that many of them (the same spread)."""
    count = max(1, min(1000, portals - 1))
    step = max(1, (portals - 1) // count)
    read = range(min(only or count, count))
    return [f"/rest/1/bench{1 + k * step:011d}/voximplant.statistic.get" for k in read]


def forget_pages(app: Any) -> None:
    app.store.calls._pages.clear()
    call_storage._LISTED.clear()
    statistic._ITEMS.clear()


async def main_async(args: argparse.Namespace) -> None:
    db = Path(args.db).resolve()
    manifest = json.loads(Path(f"{db}.json").read_text())
    hooks = page_hooks(int(manifest["portals"]), args.portals)
    app = TrunklineApp(Settings.from_env(database_url=f"sqlite:///{db}"))
    await app.startup()
    assert app.store is not None
    per_portal = int(manifest["calls_per_portal"])
    expect = b'"next":50,"total":%d,' % per_portal
    i = 0

    async def page(cold: bool = False) -> None:
        nonlocal i
        if cold:
            forget_pages(app)
        r = await call(app, hooks[i % len(hooks)], b"{}")
        i += 1
        assert r.status == 200 and expect in r.body, r.body[-200:]

    async def baseline() -> None:
        r = await call(
            baseline_app.app,
            "/rest/1/abc/voximplant.sip.get",
            b'{"auth":"2b7e3f9a8c1d4e5f6a7b8c9d0e1f2a3b","FILTER":{"TYPE":"cloud"},"start":0}',
        )
        assert r.status == 200

    if args.callgrind:
        warm, measured = args.callgrind
        for _ in range(warm):
            await page()
        for _ in range(measured):
            await page()
        sys.stdout.flush()
        os._exit(0)

    n = args.pages
    for _ in range(2 * len(hooks)):  # every page kept (the harness's warm-up)
        await page()
    collections = [0, 0, 0]
    collecting = [0.0, 0.0, 0.0]
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collections[info["generation"]] += 1
            collecting[info["generation"]] += time.perf_counter() - began[0]

    gc.callbacks.append(on_gc)
    rows = [("baseline (1 Starlette request)", baseline, False), ("page, kept", page, False)]
    if args.cold:
        rows.append(("page, SELECT + COUNT", page, True))
    print(f"# In-process statistic page ({db.name}, {len(hooks)} portals in turn; {n} calls)\n")
    print("| path | CPU µs/req | wall µs/req |\n|---|---|---|")
    for label, fn, cold in rows:
        calls = n if not cold else max(1, n // 10)
        t0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await (fn(True) if cold else fn())
        cpu = (time.process_time() - t0) / calls * 1e6
        wall = (time.perf_counter() - w0) / calls * 1e6
        print(f"| {label} | {cpu:.1f} | {wall:.1f} |")
    gc.callbacks.remove(on_gc)
    print(
        "\ncyclic GC while measuring: collections by generation "
        + ", ".join(f"{c} ({t * 1e3:.1f} ms)" for c, t in zip(collections, collecting, strict=True))
        + f"; {len(gc.get_objects())} tracked objects"
    )

    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            await page(args.cold)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
        text = out.getvalue()
        print(f"\n### cProfile ({n} pages; times include cProfile's overhead)\n")
        print(text[text.find("   ncalls") :])
    await app.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="a database made by bench/telephony/run (its .json beside it)")
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--portals", type=int, help="read only the first N of the portals")
    ap.add_argument("--cold", action="store_true", help="also pages with the caches emptied")
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--callgrind", type=int, nargs=2, metavar=("WARM", "MEASURED"))
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
