"""How long the console's pages take with 10,000 lines in one portal: in-process (ASGI, no
HTTP server), SQLite, the median and the worst of 20 reads of each page.

    .venv/bin/python bench/console.py [--lines 10000] [--reads 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from trunkline.testing import inprocess

TOKEN = "bench-console"


async def measure(lines: int, reads: int) -> list[tuple[str, float, float]]:
    async with inprocess(operator_token=TOKEN, access_log=False) as client:
        app = client.app
        assert app.store is not None
        hook = client.webhook_url
        began = time.perf_counter()
        for n in range(lines):
            body = {"TYPE": "office", "TITLE": f"pbx {n}", "SERVER": "pbx.example", "LOGIN": "u"}
            response = await client.post(hook + "voximplant.sip.add", json=body)
            assert response.status_code == 200, response.text
        print(f"{lines} lines added in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        signed = await client.post("/console/login", data={"token": TOKEN})
        assert signed.status_code in (200, 303), signed.text
        domain = (await app.console_service().portals())[0].domain
        last = lines - lines % 50 if lines % 50 else lines - 50
        pages = {
            "portals": "/console/",
            "portal, first page": f"/console/portals/{domain}",
            "portal, last page": f"/console/portals/{domain}?start={last}",
            "line": f"/console/portals/{domain}/lines/{lines // 2}",
            "faults and state": f"/console/portals/{domain}/limits",
            "event deliveries": "/console/events",
            "requests": "/console/requests",
            "calls": f"/console/portals/{domain}/calls",
        }
        found = []
        for name, path in pages.items():
            times = []
            for _ in range(reads):
                start = time.perf_counter()
                response = await client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            found.append((name, statistics.median(times), max(times)))
        return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    found = asyncio.run(measure(args.lines, args.reads))
    with open("/proc/loadavg") as file:
        load = file.read().split()[:3]
    print(f"{args.lines} lines in one portal, {args.reads} reads a page; load {' '.join(load)}")
    print("| page | median ms | worst ms |")
    print("| --- | --- | --- |")
    for name, median, worst in found:
        print(f"| {name} | {median:.1f} | {worst:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
