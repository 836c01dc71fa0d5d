#!/usr/bin/env python3
"""Register + finish pairs in-process for callgrind instruction counts (other load on the
machine does not move them), as ``profile_pair.py`` calls the ASGI application.

    bench/telephony/callgrind_pair.sh [DB]   # instructions a pair: 480 - 160 pairs, / 320

This script runs ``warm`` pairs then ``pairs`` more (32 in flight, as wrk's connections)
and leaves at once (no shutdown). ``callgrind_pair.sh`` runs it twice under valgrind on
fresh copies of the database, with 160 and 480 measured pairs after 320 warm-up pairs, and
prints the difference of the two totals divided by 320: the start-up and warm-up cancel.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ["TRUNKLINE_SIP_ENGINE"] = "off"

from profile_pair import pair_maker  # noqa: E402  (bench/telephony/profile_pair.py)

from trunkline.settings import Settings  # noqa: E402
from trunkline.web.app import TrunklineApp  # noqa: E402


async def main(db: str, warm: int, pairs: int) -> None:
    manifest = json.loads(Path(f"{db}.json").read_text())
    hook = f"/rest/1/bench{int(manifest['portals']):011d}/"
    app = TrunklineApp(Settings.from_env(database_url=f"sqlite:///{db}"))
    await app.startup()
    pair = pair_maker(app, hook, "cg")

    async def run(count: int) -> None:
        async def worker() -> None:
            for _ in range(count // 32):
                await pair()

        await asyncio.gather(*(worker() for _ in range(32)))

    await run(warm)
    await run(pairs)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
