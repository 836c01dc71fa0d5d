"""Event delivery: deliveries per second to a loopback handler on one worker, and the REST
throughput while events flow against the same REST load with no events, in one run.

    .venv/bin/python bench/events.py [--events 20000] [--duration 8] [--rounds 2]
                                     [--flow 1000] [--connections 16]

One `trunkline serve` process (1 worker, access log off, SQLite in a temporary directory)
with a portal, a telephony webhook and an app whose handler of ONAPPTEST is a loopback
HTTP/1.1 server in its own process (keep-alive, 200, empty body).

``--delivery process`` posts from a deliverer process of its own (``event_delivery``)
instead of the HTTP worker. The machine's load average is printed with the figures.

1. **Deliveries/s**: this process writes `--events` events to the outbox of the server's
   database (`EventService.raise_event`, 500 per transaction, as a cause would) and times
   until the journal holds that many deliveries; the rate counts from the first commit.
2. **REST with events flowing**: wrk (`--connections`, 1 thread) on
   `voximplant.sip.get` through the webhook for `--duration` s, alone ("off") and while this
   process feeds `--flow` events/s that the server delivers ("on"), in alternating rounds;
   the ratio is the median of "on" over the median of "off".

Prints one JSON object. Goals (issue 9): >= 2,000 deliveries/s; REST "on"/"off" >= 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

DOMAIN = "bench.example"
TOKEN = "bench-events-operator-token"
SCENARIO = {
    "domain": DOMAIN,
    "users": [{"login": "admin", "admin": True}],
    "webhooks": [{"user": 1, "code": "benchevents00001"}],
    "apps": [{"title": "Handler"}],
}


# -- the loopback handler (its own process) ----------------------------------------------

HANDLER_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def _serve_handler(port: int) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                writer.write(HANDLER_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- feeding the outbox from this process -------------------------------------------------


async def open_events(workdir: Path) -> tuple[Any, Any, int]:
    """The server database's store, an EventService on it, and the portal id."""
    from trunkline.domain.clock import Clock
    from trunkline.services.events import EventService
    from trunkline.settings import Settings
    from trunkline.web.bootstrap import open_store

    settings = Settings(database_url=f"sqlite:///{workdir / 'trunkline.sqlite3'}")
    clock = Clock()
    store = await open_store(settings, clock)
    portal = await store.accounts.portal_by_domain(DOMAIN)
    assert portal is not None
    return store, EventService(store.events, clock), portal.id


async def raise_events(store: Any, events: Any, portal_id: int, count: int, first: int) -> None:
    done = 0
    while done < count:
        batch = min(500, count - done)
        async with store.events.transaction() as conn:
            for n in range(first + done, first + done + batch):
                await events.raise_event(conn, portal_id, "ONAPPTEST", {"N": n}, user_id=1)
        done += batch


async def delivered(store: Any) -> int:
    row = await store.driver.fetch_one(
        "SELECT COUNT(*) FROM event_journal WHERE event = 'ONAPPTEST' AND outcome = 'delivered'"
    )
    return int(row[0])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


async def delivery_rate(workdir: Path, count: int, pids: list[int]) -> dict[str, float]:
    store, events, portal_id = await open_events(workdir)
    try:
        before = await delivered(store)
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        await raise_events(store, events, portal_id, count, 0)
        written = time.perf_counter() - started
        deadline = started + 300
        while await delivered(store) - before < count:
            if time.perf_counter() > deadline:
                raise RuntimeError("the deliveries did not finish in 300 s")
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu
    finally:
        await store.close()
    return {
        "events": count,
        "write_s": round(written, 3),
        "deliver_s": round(elapsed, 3),
        "deliveries_per_s": round(count / elapsed),
        # what the machine's load cannot blur: the delivering process's CPU per event
        "cpu_us_per_delivery": round(cpu / count * 1e6),
        "deliveries_per_cpu_s": round(count / cpu) if cpu else None,
    }


def feed(workdir: Path, rate: int, stop: threading.Event, fed: list[int]) -> None:
    """Write ``rate`` events per second until ``stop``, one transaction every 200 ms: each
    commit of another process makes the worker's caches of portals and webhooks read
    again (SQLite's data_version), a cost events raised inside the server do not have."""

    async def loop() -> None:
        store, events, portal_id = await open_events(workdir)
        try:
            n = 10**9
            per_slice = max(1, rate // 5)
            tick = time.perf_counter()
            while not stop.is_set():
                await raise_events(store, events, portal_id, per_slice, n)
                n += per_slice
                fed[0] += per_slice
                tick += 0.2
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        finally:
            await store.close()

    asyncio.run(loop())


def wrk(url: str, seconds: int, connections: int, pid: int) -> tuple[float, float]:
    """(requests/s, CPU µs of the HTTP worker per request) of one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    cpu = cpu_seconds([pid])
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    cpu = cpu_seconds([pid]) - cpu
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    assert found and total, done.stdout
    return float(found.group(1)), cpu / int(total.group(1)) * 1e6


def rest_rounds(workdir: Path, url: str, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    found: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    flows: list[float] = []
    for number in range(args.rounds):
        for mode in ("off", "on") if number % 2 == 0 else ("on", "off"):
            if mode == "off":
                rate, per = wrk(url, args.duration, args.connections, pid)
                found["off"].append(rate)
                cpu["off"].append(per)
                continue
            stop, fed = threading.Event(), [0]
            feeder = threading.Thread(target=feed, args=(workdir, args.flow, stop, fed))
            feeder.start()
            time.sleep(1)  # the flow is running before the load starts
            begin = fed[0]
            rate, per = wrk(url, args.duration, args.connections, pid)
            found["on"].append(rate)
            cpu["on"].append(per)
            flows.append((fed[0] - begin) / args.duration)
            stop.set()
            feeder.join()
            time.sleep(2)  # let the outbox drain before the next round
    off, on = statistics.median(found["off"]), statistics.median(found["on"])
    return {
        "rest_off_rps": [round(x) for x in found["off"]],
        "rest_on_rps": [round(x) for x in found["on"]],
        "events_fed_per_s": [round(x) for x in flows],
        "ratio_on_off": round(on / off, 3),
        # the worker's CPU per REST request (event work in that process included): the
        # throughput ratio of a worker that has one core to itself
        "worker_cpu_us_per_request_off": round(statistics.median(cpu["off"])),
        "worker_cpu_us_per_request_on": round(statistics.median(cpu["on"])),
        "cpu_ratio_on_off": round(statistics.median(cpu["off"]) / statistics.median(cpu["on"]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--flow", type=int, default=1000, help="events/s fed during 'on'")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--delivery",
        choices=("inprocess", "process"),
        default="inprocess",
        help="event_delivery: in the HTTP worker, or a deliverer process of its own",
    )
    parser.add_argument("--handler", type=int, help=argparse.SUPPRESS)  # the handler process
    args = parser.parse_args()
    if args.handler:
        asyncio.run(_serve_handler(args.handler))
        return

    from trunkline.testing.server import LiveServer

    handler_port = free_port()
    handler = subprocess.Popen([sys.executable, __file__, "--handler", str(handler_port)])
    env = {
        "TRUNKLINE_ACCESS_LOG": "0",
        "TRUNKLINE_LOG_LEVEL": "warning",
        "TRUNKLINE_EVENT_DELIVERY": args.delivery,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="trunkline-bench-events-") as directory:
            workdir = Path(directory)
            (workdir / "scenario.json").write_text(json.dumps(SCENARIO))
            args_serve = ("--seed", "scenario.json", "--operator-token", TOKEN, "--workers", "1")
            with LiveServer.start(workdir, args=args_serve, env=env) as server:
                assert server.scenario is not None
                app_token = server.scenario["apps"][0]["access_token"]
                bound = httpx.post(
                    f"{server.base_url}/rest/event.bind",
                    json={
                        "event": "OnAppTest",
                        "handler": f"http://127.0.0.1:{handler_port}/events",
                        "auth": app_token,
                    },
                    headers={"host": DOMAIN},
                )
                assert bound.json().get("result") is True, bound.text
                deliverer = server.info.get("deliverer_pid")
                pids = [int(deliverer)] if deliverer else [server.process.pid]
                rate = asyncio.run(delivery_rate(workdir, args.events, pids))
                hook = server.scenario["webhooks"][0]["url"]
                rest = rest_rounds(
                    workdir, hook + "voximplant.sip.get.json", args, server.process.pid
                )
    finally:
        handler.send_signal(signal.SIGTERM)
        handler.wait(10)
    print(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "delivery": args.delivery,
                **rate,
                **rest,
                "duration_s": args.duration,
                "flow": args.flow,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
