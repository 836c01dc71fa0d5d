#!/usr/bin/env python3
"""1 node against 2 nodes behind HAProxy, on one PostgreSQL database (bench/README.md).

    .venv/bin/python bench/nodes.py --database-url "postgresql://...?schema=bench_big" \
        --key-file bench/out/pg1m/db-big.sqlite3.key [--duration 5]

Uses the PostgreSQL copy that ``bench/run --database postgresql`` made, and its key. For
N = 1 and 2 it starts N ``trunkline serve`` processes (one worker each, SIP engine off)
and HAProxy (round robin) in front, then runs wrk (-t1 -c32) through HAProxy on the
single-row get and the 50-row page of the portals bench.py reads, and prints the total
req/s with the CPU each part used. Every process runs under ``timeout`` in its own session.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import (
    LUA,
    PYTHON,
    free_port,
    group_cpu,
    portal_sets,
    start,
    stop,
    stop_all,
    system_busy,
    wait_http,
    wrk,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--key-file", required=True, type=lambda p: str(Path(p).resolve()))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="seconds of discarded load first: each node's caches must have seen the "
        "1,000 portals of a scenario, or the run measures cold misses",
    )
    ap.add_argument("--portals", type=int, default=10_000)
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "nodes")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    gets, _ = portal_sets(a.portals)
    rows = []
    try:
        for count in (1, 2):
            servers = []
            for n in range(count):
                port = free_port()
                proc = start(
                    [str(PYTHON), "-m", "trunkline", "serve", "--port", str(port)],
                    600,
                    a.out / f"node{count}-{n}.log",
                    a.out,
                    env={
                        "TRUNKLINE_DATABASE_URL": a.database_url,
                        "TRUNKLINE_KEY_FILE": a.key_file,
                        "TRUNKLINE_SEED": "0",
                    },
                )
                wait_http(f"http://127.0.0.1:{port}/health", proc)
                servers.append((port, proc))
            front = free_port()
            config = a.out / f"haproxy-{count}.cfg"
            backends = "\n".join(
                f"    server n{i} 127.0.0.1:{port}" for i, (port, _) in enumerate(servers)
            )
            config.write_text(
                "global\n    maxconn 4000\ndefaults\n    mode http\n    timeout connect 2s\n"
                "    timeout client 30s\n    timeout server 30s\n"
                f"frontend rest\n    bind 127.0.0.1:{front}\n    default_backend nodes\n"
                f"backend nodes\n    balance roundrobin\n{backends}\n"
            )
            haproxy = start(
                ["haproxy", "-db", "-f", str(config)], 600, a.out / "haproxy.log", a.out
            )
            time.sleep(0.5)
            url = f"http://127.0.0.1:{front}"
            for scenario in ("one", "page"):
                args = [scenario, *map(str, gets), str(a.lines), "nodes"]
                wrk(url, LUA / "trunkline.lua", a.warmup, args)  # warm-up
                before = [group_cpu(p.pid)[0] for _, p in servers] + [group_cpu(haproxy.pid)[0]]
                b0, t0 = system_busy(), time.monotonic()
                res = wrk(url, LUA / "trunkline.lua", a.duration, args)
                b1, t1 = system_busy(), time.monotonic()
                after = [group_cpu(p.pid)[0] for _, p in servers] + [group_cpu(haproxy.pid)[0]]
                used = [round((y - x) / (t1 - t0), 2) for x, y in zip(before, after, strict=True)]
                rows.append(
                    f"| {count} | {scenario} | {res['rps']:,.0f} | {res['p50_ms']} | "
                    f"{res['p99_ms']} | {' + '.join(map(str, used[:-1]))} | {used[-1]} | "
                    f"{round((b1 - b0) / (t1 - t0), 2)} | {res['non2xx']} |"
                )
                print(rows[-1], flush=True)
            stop(haproxy)
            for _, proc in servers:
                stop(proc)
    finally:
        stop_all()
    print(
        "| nodes | scenario | req/s | p50 ms | p99 ms | node cores | haproxy cores "
        "| machine busy cores | non-2xx |\n|---|---|---|---|---|---|---|---|---|"
    )
    print("\n".join(rows))
    print("load average at the end: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
