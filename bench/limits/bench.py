"""Overhead of the limiters on ``voximplant.sip.get``: limits off vs in-process vs Redis.

Drives the ASGI application in-process (no HTTP server, no client), with
``--concurrency`` calls in flight on one event loop, as one loaded worker has, so
the figure is the limiters' own cost per call with nothing else to hide it: an
HTTP server and the network would add the same fixed cost to every configuration
and bring every ratio closer to 1. ``--concurrency 1`` shows the unloaded,
one-call-at-a-time case, where each Redis round trip is pure waiting. Each run measures
every configuration back to back (in alternating order), in one process; a run's ratio
is a configuration's req/s over limits-off req/s of the same run, and the verdict is
the median of those ratios (the ratio of the medians is printed too).

Every call must be admitted (a refused call is cheaper and would flatter the
limiters), so the calls go round-robin over ``--webhooks`` webhooks, each taking
at most ``--rounds`` (< 50) calls per measurement; each measurement starts on
fresh limiter state (a new app, a new Redis key prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl
from trunkline.web.app import TrunklineApp

CONFIGS = ("off", "in-process", "redis")


async def call(app: TrunklineApp, path: str) -> int:
    body = b"{}"
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"bench.local")],
        "scheme": "http",
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def seed(settings: Settings, webhooks: int) -> list[str]:
    app = TrunklineApp(settings)
    await app.startup()
    try:
        assert app.services is not None
        accounts = app.services.accounts
        portal = await accounts.create_portal("bench.bitrix24.com", title="Bench")
        await accounts.create_user(portal, "admin", name="Bench", is_admin=True, user_id=1)
        codes = []
        for _ in range(webhooks):
            created = await accounts.create_webhook(portal, 1, ["telephony"])
            codes.append(created.code)
        for i in range(5):
            path = f"/rest/1/{codes[0]}/voximplant.sip.add"
            scope_body = json.dumps(
                {"TYPE": "office", "TITLE": f"line {i}", "SERVER": "pbx.example.com", "LOGIN": "u"}
            ).encode()
            await _post(app, path, scope_body)
        return codes
    finally:
        await app.shutdown()


async def _post(app: TrunklineApp, path: str, body: bytes) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "scheme": "http",
    }
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def measure(settings: Settings, paths: list[str], rounds: int, concurrency: int) -> float:
    app = TrunklineApp(settings)
    await app.startup()
    try:
        for path in paths[:20]:  # warm-up
            await call(app, path)
        queue = [path for _ in range(rounds) for path in paths]
        queue.reverse()

        async def worker() -> None:
            while queue:
                status = await call(app, queue.pop())
                if status != 200:
                    raise SystemExit(f"bench: a call was answered {status}; lower --rounds")

        count = len(queue)
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - began)
    finally:
        await app.shutdown()


def configured(base: Settings, name: str, redis_url: str) -> Settings:
    if name == "off":
        return base
    if name == "in-process":
        return base.replace(limits=True)
    prefix = f"tlbench:{secrets.token_hex(6)}:"
    return base.replace(limits=True, redis_url=redis_url, redis_prefix=prefix)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = DatabaseUrl(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        migrate.upgrade(url)
        base = Settings(
            database_url=url.raw, secret_key=new_key(), sip_engine="off", control_poll_ms=0
        )
        codes = await seed(base, args.webhooks)
        paths = [f"/rest/1/{code}/voximplant.sip.get" for code in codes]
        names = [n for n in CONFIGS if n != "redis" or args.redis_url]
        figures: dict[str, list[float]] = {n: [] for n in names}
        for run in range(args.runs):
            for name in names if run % 2 == 0 else reversed(names):
                settings = configured(base, name, args.redis_url)
                rate = await measure(settings, paths, args.rounds, args.concurrency)
                figures[name].append(rate)
                print(f"run {run + 1}: {name:<10} {rate:8.0f} req/s", file=sys.stderr)
    off = statistics.median(figures["off"])
    report: dict[str, Any] = {
        "calls_per_measurement": args.rounds * args.webhooks,
        "concurrency": args.concurrency,
    }
    for name in names:
        median = statistics.median(figures[name])
        # Each run measures every configuration back to back, so a run's own ratio sees
        # the same load on the machine in both terms; its median is the verdict. The
        # ratio of the medians, which drift between runs moves more, is shown beside it.
        paired = [mine / plain for mine, plain in zip(figures[name], figures["off"], strict=True)]
        report[name] = {
            "median_rps": round(median),
            "ratio": round(statistics.median(paired), 3),
            "ratio_of_medians": round(median / off, 3),
            "run_ratios": [round(r, 3) for r in paired],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="measurements per configuration")
    parser.add_argument("--webhooks", type=int, default=1000, help="callers, round-robin")
    parser.add_argument("--rounds", type=int, default=40, help="calls per caller (< 50)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="calls in flight at once (1: one by one)"
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="empty: skip the Redis case"
    )
    args = parser.parse_args()
    if not 1 <= args.rounds < 50:
        parser.error("--rounds must be 1..49 so that every call is admitted")
    report = asyncio.run(main_async(args))
    print(json.dumps(report, indent=2))
    goals = {"in-process": 0.9, "redis": 0.7}
    for name, goal in goals.items():
        if name in report:
            verdict = "meets" if report[name]["ratio"] >= goal else "MISSES"
            print(f"{name}: {report[name]['ratio']:.3f}x of limits off ({verdict} {goal}x)")


if __name__ == "__main__":
    main()
