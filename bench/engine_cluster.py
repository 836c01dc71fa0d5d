#!/usr/bin/env python3
"""Engine bench: the cloud lines of a PostgreSQL database kept registered by 3 engine nodes
against a loopback Kamailio registrar (bench/README.md, issue 13).

    .venv/bin/python bench/engine_cluster.py --database-url "postgresql://...?schema=bench_big" \
        --key-file bench/out/pg1m/db-big.sqlite3.key [--nodes 3] [--window 60]

The database is a PostgreSQL copy of a bench/load.py database (bench/pg_copy.py; 20,000
portals of 10 lines hold 100,000 cloud lines): its cloud lines register to
127.0.0.1:15061..15065, five provider hosts. `--hosts N` first rewrites every cloud line's
SERVER to one of N loopback addresses 127.0.0.1..N port 15061 (N provider hosts, so N caps).
Kamailio listens on every SERVER the lines name and saves every REGISTER (no challenge).
Steps:

1. an idle engine on an empty schema, for the memory of an engine without lines;
2. start N `trunkline engine` processes at once (t = 0) with the default caps (150
   REGISTERs/s per provider host and node) and poll Kamailio's `location_contacts` until every
   cloud line has a binding: the cold-start time;
3. memory: PSS of each engine (smaps_rollup) minus the idle engine's, per line it owns;
4. a steady window of `--window` seconds with Expires 60 (refreshes every ~30 s): CPU of the
   engines (utime+stime) per REGISTER Kamailio accepted in the window.

Prints one JSON object. Every process runs under `timeout` in its own session, and the
whole run under a hard limit (`--limit` + `--window` + 240 s) after which everything stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import PYTHON, group_cpu, start, stop, stop_all

HOST_PORT = 15061
KAMAILIO = """#!KAMAILIO
debug=0
log_stderror=yes
children=4
auto_aliases=no
dns=no
rev_dns=no
disable_tcp=yes
maxbuffer=4194304
{listen}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "kex.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 2)
modparam("jsonrpcs", "fifo_name", "{run}/rpc.fifo")
modparam("jsonrpcs", "fifo_reply_dir", "{run}/")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "hash_size", 14)
modparam("registrar", "min_expires", 30)
modparam("registrar", "max_expires", 3600)
request_route {{
    if (!is_method("REGISTER")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    save("location");
    exit;
}}
"""


def rpc(run: Path, method: str, *params: str) -> object:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.engine.netns import Kamailio

    return Kamailio(None, run, "127.0.0.1", 0).rpc(method, *params)  # type: ignore[arg-type]


def stat(run: Path, name: str) -> int:
    found = json.dumps(rpc(run, "stats.get_statistics", "all"))
    match = re.search(rf"[:\"]{name} = (\d+)", found)
    return int(match.group(1)) if match else -1


def pss_kb(pid: int) -> int:
    total = 0
    path = Path(f"/proc/{pid}/smaps_rollup")
    if not path.exists():
        raise SystemExit(f"engine {pid} is gone: see bench/out/engine/engine*.log")
    for line in path.read_text().splitlines():
        if line.startswith("Pss:"):
            total += int(line.split()[1])
    return total


def engine_pid(proc: subprocess.Popen[bytes]) -> int:
    """The python process under `timeout`."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return int(children[0]) if children else proc.pid


def cloud_lines(url: str) -> int:
    import asyncpg

    from trunkline.storage.url import DatabaseUrl

    async def count() -> int:
        u = DatabaseUrl(url)
        conn = await asyncpg.connect(u.asyncpg_dsn, server_settings=u.server_settings)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM lines WHERE type = 'cloud'"))
        finally:
            await conn.close()

    return asyncio.run(count())


def spread_hosts(url: str, hosts: int) -> None:
    """Every cloud line's SERVER to one of `hosts` loopback addresses, round robin."""
    import asyncpg

    from trunkline.storage.url import DatabaseUrl

    async def spread() -> None:
        u = DatabaseUrl(url)
        conn = await asyncpg.connect(u.asyncpg_dsn, server_settings=u.server_settings)
        try:
            await conn.execute(
                "UPDATE lines AS l SET server = x.server"
                " FROM (SELECT portal_id, config_id, '127.0.0.' || (1 + row_number() OVER"
                " (ORDER BY portal_id, config_id) % $1) || ':' || $2::int AS server"
                " FROM lines WHERE type = 'cloud') AS x"
                " WHERE l.type = 'cloud' AND (l.portal_id, l.config_id) = (x.portal_id,"
                " x.config_id) AND l.server IS DISTINCT FROM x.server",
                hosts,
                HOST_PORT,
            )
        finally:
            await conn.close()

    asyncio.run(spread())


def servers(url: str) -> list[str]:
    """The distinct SERVERs (host:port) of the cloud lines."""
    import asyncpg

    from trunkline.storage.url import DatabaseUrl

    async def read() -> list[str]:
        u = DatabaseUrl(url)
        conn = await asyncpg.connect(u.asyncpg_dsn, server_settings=u.server_settings)
        try:
            rows = await conn.fetch("SELECT DISTINCT server FROM lines WHERE type = 'cloud'")
            return sorted(str(r[0]) for r in rows)
        finally:
            await conn.close()

    return asyncio.run(read())


def describe(proc: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    """The engine's counters: SIGUSR1 makes it print them as one JSON line in its log."""
    before = log.read_bytes().count(b"\n")
    os.kill(engine_pid(proc), signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines()[before:]:
            if line.startswith('{"lines"'):
                return dict(json.loads(line))
        time.sleep(0.2)
    return {}


def rss_kb(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def drop_schema(url: str) -> None:
    import asyncpg

    from trunkline.storage.url import DatabaseUrl

    async def drop() -> None:
        u = DatabaseUrl(url)
        conn = await asyncpg.connect(u.asyncpg_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{u.postgres_schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def interrupted(signum: int, _frame: object) -> None:
    """Stop once: a second signal (`timeout` passes its TERM on) must not cut the cleanup."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    raise SystemExit(f"stopped by signal {signum} (the hard limit is SIGALRM)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument(
        "--lease-ms",
        type=int,
        default=5000,
        help="cluster lease (on a machine shared with other load, 5 s leases can lapse)",
    )
    ap.add_argument("--limit", type=int, default=600, help="seconds allowed for the cold start")
    ap.add_argument("--hosts", type=int, default=0, help="spread SERVERs over N loopback hosts")
    ap.add_argument("--host-rate", type=int, default=150, help="REGISTERs/s per host and node")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "engine")
    a = ap.parse_args()
    out = a.out.resolve()
    run = out / "run"
    run.mkdir(parents=True, exist_ok=True)
    hard = a.limit + a.window + 240
    signal.signal(signal.SIGALRM, interrupted)
    signal.alarm(hard)
    signal.signal(signal.SIGTERM, interrupted)
    if a.hosts:
        spread_hosts(a.database_url, a.hosts)
    total = cloud_lines(a.database_url)
    targets = servers(a.database_url)
    env = {
        "TRUNKLINE_DATABASE_URL": a.database_url,
        "TRUNKLINE_KEY_FILE": str(Path(a.key_file).resolve()),  # the engines run in `out`
        "TRUNKLINE_SIP_PORT": "0",
        "TRUNKLINE_SIP_EXPIRES": "60",
        "TRUNKLINE_LOG_LEVEL": "warning",
        "TRUNKLINE_CLUSTER_LEASE_MS": str(a.lease_ms),
        "TRUNKLINE_SIP_REGISTER_RATE_HOST": str(a.host_rate),
    }
    per_node = -(-total // a.nodes)
    result: dict[str, object] = {
        "cloud_lines": total,
        "nodes": a.nodes,
        "lease_ms": a.lease_ms,
        "provider_hosts": len(targets),
        "host_rate_per_node": a.host_rate,
        # a first attempt reserves 2 REGISTERs of the cap (it expects a challenge)
        "floor_s": round(per_node * 2 / (len(targets) * a.host_rate), 1),
        "load_average_start": load_average(),
    }
    empty = a.database_url.split("?", 1)[0] + f"?schema=bench_empty_{secrets.token_hex(3)}"
    try:
        listen = "\n".join(f"listen=udp:{t}" for t in targets)
        (out / "kam.cfg").write_text(KAMAILIO.format(listen=listen, run=run))
        command = ["kamailio", "-f", str(out / "kam.cfg"), "-DD", "-E", "-Y", str(run)]
        kam = start(
            [*command, "-w", str(out), "-m", "512", "-M", "16"],
            a.limit + a.window + 300,
            out / "kamailio.log",
            out,
        )
        deadline = time.monotonic() + 10
        while not (run / "rpc.fifo").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

        idle = start(
            [str(PYTHON), "-m", "trunkline", "engine"],
            120,
            out / "idle.log",
            out,
            env={**env, "TRUNKLINE_DATABASE_URL": empty},
        )
        time.sleep(8)
        idle_pss = pss_kb(engine_pid(idle))
        idle_rss = rss_kb(engine_pid(idle))
        stop(idle)
        result["idle_engine_pss_mb"] = round(idle_pss / 1024, 1)
        result["idle_engine_rss_mb"] = round(idle_rss / 1024, 1)

        t0 = time.monotonic()
        engines = [
            start(
                [str(PYTHON), "-m", "trunkline", "engine"],
                a.limit + a.window + 120,
                out / f"engine{n}.log",
                out,
                env=env,
            )
            for n in range(a.nodes)
        ]
        marks: dict[str, float] = {}
        while time.monotonic() - t0 < a.limit:
            contacts = stat(run, "location_contacts")
            for share in (0.5, 0.9, 0.99, 1.0):
                if contacts >= share * total and f"{share:.0%}" not in marks:
                    marks[f"{share:.0%}"] = round(time.monotonic() - t0, 1)
            if contacts >= total:
                break
            time.sleep(1.0)
        result["cold_start_s"] = marks
        result["registered"] = stat(run, "location_contacts")
        result["load_average_cold"] = load_average()
        pids = [engine_pid(p) for p in engines]
        pss = [pss_kb(pid) for pid in pids]
        rss = [rss_kb(pid) for pid in pids]
        counters = [describe(p, out / f"engine{n}.log") for n, p in enumerate(engines)]
        owned = [int(str(c.get("lines", 0))) for c in counters]
        result["lines_per_node"] = owned
        result["cluster"] = [c.get("cluster") for c in counters]
        result["client"] = [c.get("client") for c in counters]
        # a line taken over from an earlier cluster on this schema first clears the old
        # binding (`Contact: *`): its first attempt reserves 3 REGISTERs of the cap, not 2
        clears = [int(dict(c.get("client") or {}).get("clears", 0)) for c in counters]
        busiest = max((n * 2 + k for n, k in zip(owned, clears, strict=True)), default=0)
        result["floor_with_clears_s"] = round(busiest / (len(targets) * a.host_rate), 1)
        result["engine_pss_mb"] = [round(k / 1024, 1) for k in pss]
        result["engine_rss_mb"] = [round(k / 1024, 1) for k in rss]
        result["memory_per_line_kb"] = round((sum(pss) - a.nodes * idle_pss) / max(total, 1), 2)
        result["rss_per_line_kb"] = [
            round((r - idle_rss) / max(n, 1), 2) for r, n in zip(rss, owned, strict=True)
        ]
        cold_cpu = sum(group_cpu(p.pid)[0] for p in engines)
        result["cold_start_cpu_s"] = round(cold_cpu, 1)

        accepted0 = stat(run, "accepted_regs")
        cpu0 = [group_cpu(p.pid)[0] for p in engines]
        kam0 = group_cpu(kam.pid)[0]
        time.sleep(a.window)
        accepted1 = stat(run, "accepted_regs")
        cpu1 = [group_cpu(p.pid)[0] for p in engines]
        kam1 = group_cpu(kam.pid)[0]
        used = [y - x for x, y in zip(cpu0, cpu1, strict=True)]
        regs = max(accepted1 - accepted0, 1)
        result["window_s"] = a.window
        result["window_registrations"] = regs
        result["engine_cores"] = [round(u / a.window, 3) for u in used]
        result["cpu_us_per_registration"] = round(sum(used) / regs * 1e6, 1)
        # the peer in the same window: Kamailio's registrar saving each REGISTER (baseline)
        result["kamailio_us_per_registration"] = round((kam1 - kam0) / regs * 1e6, 1)
        result["kamailio_cpu_s"] = round(group_cpu(kam.pid)[0], 1)
        result["load_average_end"] = load_average()
        result["lapses"] = sum(
            (out / f"engine{n}.log").read_text(errors="replace").count("lease of node")
            for n in range(a.nodes)
        )
    finally:
        stop_all()
        drop_schema(empty)
    print(json.dumps(result, indent=2))
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
