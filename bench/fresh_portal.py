"""Fresh-portal creation: how long `POST /operator/portals` takes for a fully seeded portal.

    .venv/bin/python bench/fresh_portal.py [--count 300] [--database sqlite|postgres]

The scenario: administrator 1 and an operator with UF_PHONE_INNER, a telephony webhook, an
application registered and installed (token pair), an office line and a cloud line of the
application. Each portal is built through the operator API in-process (httpx ASGITransport,
no socket) on a fresh SQLite file, then deleted with `DELETE /operator/portals/{domain}`
(both timed). Prints p50/p99/mean in ms as one JSON object. Goal: p50 under 5 ms on SQLite.
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

from trunkline.settings import Settings
from trunkline.web.app import TrunklineApp

TOKEN = "bench-operator-token"


def scenario(n: int) -> dict[str, Any]:
    return {
        "domain": f"p{n}.bench.example",
        "users": [
            {"id": 1, "login": "admin", "admin": True},
            {"id": 2, "login": "op", "phone_inner": "102", "line_modify": True},
        ],
        "webhooks": [{"user": 1}],
        "apps": [{"title": "Dialer", "user": 2}],
        "lines": [
            {"type": "office", "title": "PBX", "server": "pbx.example", "login": "u"},
            {"type": "cloud", "title": "Cloud", "server": "sip.example", "login": "c", "app": 0},
        ],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(count: int, database: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trunkline-bench-") as directory:
        url = database or f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        from trunkline.storage import migrate
        from trunkline.storage.url import DatabaseUrl

        migrate.upgrade(DatabaseUrl(url))
        settings = Settings(
            database_url=url,
            sip_engine="off",
            operator_token=TOKEN,
            control_poll_ms=0,
            key_file=str(Path(directory) / "bench.key"),
        )
        app = TrunklineApp(settings)
        await app.startup()
        created: list[float] = []
        deleted: list[float] = []
        headers = {"authorization": f"Bearer {TOKEN}"}
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for n in range(count + 20):  # the first 20 warm up
                    start = time.perf_counter()
                    made = await client.post("/operator/portals", json=scenario(n), headers=headers)
                    middle = time.perf_counter()
                    assert made.status_code == 201, made.text
                    gone = await client.delete(
                        f"/operator/portals/p{n}.bench.example", headers=headers
                    )
                    end = time.perf_counter()
                    assert gone.status_code == 200, gone.text
                    if n >= 20:
                        created.append((middle - start) * 1000)
                        deleted.append((end - middle) * 1000)
        finally:
            await app.shutdown()
    return {
        "portals": count,
        "database": "postgresql" if database else "sqlite",
        "create_ms": {
            "p50": round(percentile(created, 0.5), 2),
            "p99": round(percentile(created, 0.99), 2),
            "mean": round(statistics.fmean(created), 2),
        },
        "delete_ms": {
            "p50": round(percentile(deleted, 0.5), 2),
            "p99": round(percentile(deleted, 0.99), 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--database", default="", help="a database URL (default: SQLite)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count, args.database))))


if __name__ == "__main__":
    main()
