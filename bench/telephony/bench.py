#!/usr/bin/env python3
"""Telephony throughput against the Starlette baseline (see bench/telephony/README.md).

    bench/telephony/run [--quick] [--runs N] [--duration S] [--only 1M|10k]

Two databases, each loaded by ``bench/load.py`` (portals, their administrator and
webhook ``bench<portal id>``; no SIP lines) plus ``--calls-per-portal`` rows of call
statistics per portal, written as ``CallRepository.insert_record`` stores them:

* ``1M``: 10,000 portals x 100 rows = 1,000,000 rows;
* ``10k``: 100 portals x 100 rows = 10,000 rows.

Scenarios on ``trunkline serve`` (one worker), under wrk like bench/run:

* ``stat-page``: ``voximplant.statistic.get`` ``{}``: the first 50-row page with ``total``
  and ``next``, over 1,000 portals spread through the database;
* ``register+finish``: ``telephony.externalCall.register`` of a new number, then
  ``telephony.externalCall.finish`` of a CALL_ID an earlier answer carried (req/s; pairs/s
  is half).

The baseline is bench/baseline_app.py, measured in the same run; a ratio is a scenario's
median req/s over the baseline's median. Goals of issue 10: register (req/s of the
register+finish mix) >= 0.3, the statistic page >= 0.25 and flat from 10k to 1M rows.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

import bench as harness  # noqa: E402  (bench/bench.py: processes, wrk, measure)
import load  # noqa: E402  (bench/load.py)

from trunkline.storage import schema  # noqa: E402

LUA = HERE / "lua" / "telephony.lua"
TARGETS = {"stat-page": 0.25, "register+finish": 0.3}
ROW_COLUMNS = [
    "portal_id",
    "call_id",
    "external_call_id",
    "category",
    "origin",
    "portal_user_id",
    "portal_number",
    "phone_number",
    "call_type",
    "duration",
    "started_at",
    "cost",
    "cost_currency",
    "failed_code",
    "failed_reason",
    "rest_app_name",
    "transcript_pending",
    "crm_created",
    "created_at",
]


def check_columns() -> None:
    """Every NOT NULL column without a default is written (fails loudly otherwise)."""
    for column in schema.call_statistics.columns:
        needed = not column.nullable and column.server_default is None and not column.primary_key
        if needed and column.name not in ROW_COLUMNS:
            raise SystemExit(f"bench/telephony: call_statistics.{column.name} is not loaded")


def load_calls(db: Path, portals: int, per_portal: int) -> dict[str, object]:
    t0 = time.perf_counter()
    manifest = load.load(db, portals, 1, quiet=True)  # one SIP line each: load.py checks one
    check_columns()
    now = time.time()
    marks = ", ".join("?" for _ in ROW_COLUMNS)
    sql = f"INSERT INTO call_statistics ({', '.join(ROW_COLUMNS)}) VALUES ({marks})"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        for first in range(1, portals + 1, 500):
            rows = []
            for portal in range(first, min(first + 500, portals + 1)):
                for i in range(per_portal):
                    started = now - (per_portal - i) * 300
                    duration = (portal * 7 + i) % 180
                    rows.append(
                        (
                            portal,
                            f"externalCall.{secrets.token_hex(16)}.{int(started)}",
                            None,
                            "external",
                            "rest_app",
                            1,
                            "REST_APP:",
                            f"7978{portal:05d}{i:03d}",
                            1 + i % 2,
                            duration,
                            started,
                            "0.0000",
                            "",
                            "200" if duration else "304",
                            "",
                            None,
                            "N",
                            "",
                            started + duration,
                        )
                    )
            conn.executemany(sql, rows)
        conn.commit()
    manifest = {
        **manifest,
        "call_rows": portals * per_portal,
        "calls_per_portal": per_portal,
        "load_s": round(time.perf_counter() - t0, 1),
    }
    Path(f"{db}.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def ensure_db(
    out: Path, label: str, portals: int, per_portal: int, reuse: bool
) -> dict[str, object]:
    db = out / f"telephony-{label}.sqlite3"
    manifest_path = Path(f"{db}.json")
    if reuse and db.exists() and manifest_path.exists():
        found: dict[str, object] = json.loads(manifest_path.read_text())
        if found.get("call_rows") == portals * per_portal:
            harness.log(f"reusing {db.name} ({found['call_rows']} rows)")
            return found
    harness.log(f"loading {db.name}: {portals} portals x {per_portal} call rows")
    manifest = load_calls(db, portals, per_portal)
    harness.log(f"  loaded in {manifest['load_s']} s")
    return manifest


def run_server(
    cfg: harness.Config, label: str, manifest: dict[str, object], figs: dict[str, harness.Figure]
) -> None:
    port = harness.free_port()
    budget = 2 * (cfg.warmup + cfg.runs * (cfg.duration + 25)) + 120
    proc = harness.start(
        [
            str(harness.PYTHON),
            "-m",
            "trunkline",
            "serve",
            "--port",
            str(port),
            "--database-url",
            str(manifest["database_url"]),
        ],
        budget,
        cfg.out / f"telephony-server-{label}.log",
        cfg.out,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        harness.wait_http(f"{base}/health", proc)
        portals = int(manifest["portals"])  # type: ignore[call-overload]
        per_portal = int(manifest["calls_per_portal"])  # type: ignore[call-overload]
        # The pages read portals 1.. (up to 1,000 of them, spread); the pairs write in the
        # last portal, which the pages never read (its rows grow run after run).
        count = max(1, min(1000, portals - 1))
        step = max(1, (portals - 1) // count)
        # Sanity: a page, then a pair, checked.
        hook = f"{base}/rest/1/bench{1:011d}/"
        status, body = harness.post_json(hook + "voximplant.statistic.get", {})
        assert status == 200 and len(body["result"]) == min(50, per_portal), (status, body)  # type: ignore[arg-type]
        assert body["total"] == per_portal, body
        pair_portal = portals
        pair_hook = f"{base}/rest/1/bench{pair_portal:011d}/"
        status, body = harness.post_json(
            pair_hook + "telephony.externalCall.register",
            {"USER_ID": 1, "PHONE_NUMBER": "70000000000", "TYPE": 2},
        )
        assert status == 200, (status, body)
        call_id = body["result"]["CALL_ID"]  # type: ignore[index]
        status, body = harness.post_json(
            pair_hook + "telephony.externalCall.finish", {"CALL_ID": call_id, "USER_ID": 1}
        )
        assert status == 200 and body["result"]["CALL_ID"] == call_id, (status, body)  # type: ignore[index]
        harness.log(f"server {label} on :{port}: {manifest['call_rows']} call rows")
        for scenario, fig in figs.items():
            if scenario == "stat-page":
                args = ["page", "1", str(step), str(count)]
            else:
                args = ["pair", str(pair_portal), "1", "1"]

            def args_for(tag: str, args: list[str] = args) -> list[str]:
                return [*args, tag.replace(" ", "_")]

            harness.measure(fig, cfg, proc, base, LUA, args_for)
    finally:
        harness.stop(proc)


def report(figs: list[harness.Figure], baseline: harness.Figure) -> str:
    base = baseline.median("rps")
    lines = [
        "| database | scenario | req/s (median) | ratio to baseline | goal | p50 ms | p99 ms |"
        " server µs CPU/req | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| — | baseline (Starlette + orjson) | {base:,.0f} | 1.00 | — |"
        f" {baseline.median('p50_ms'):.2f} | {baseline.median('p99_ms'):.2f} |"
        f" {baseline.median('server_cpu_us_per_req'):.0f} | 0 |",
    ]
    for fig in figs:
        rps = fig.median("rps")
        ratio = rps / base if base else float("nan")
        goal = TARGETS[fig.scenario]
        verdict = "met" if ratio >= goal else "missed"
        non2xx = sum(int(r["non2xx"]) for r in fig.runs)  # type: ignore[call-overload]
        lines.append(
            f"| {fig.db} | {fig.scenario} | {rps:,.0f} | {ratio:.2f} | ≥ {goal} ({verdict}) |"
            f" {fig.median('p50_ms'):.2f} | {fig.median('p99_ms'):.2f} |"
            f" {fig.median('server_cpu_us_per_req'):.0f} | {non2xx} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 s runs, 1 s warm-up, 2 runs")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["1M", "10k"])
    ap.add_argument("--reuse-db", action="store_true")
    ap.add_argument("--big-portals", type=int, default=10_000)
    ap.add_argument("--small-portals", type=int, default=100)
    ap.add_argument("--calls-per-portal", type=int, default=100)
    ap.add_argument("--quiet-wait", type=float, default=20.0)
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup, args.runs = 2, 1, 2
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    cfg = harness.Config(args.duration, args.warmup, args.runs, out, False, args.quiet_wait)
    signal.signal(signal.SIGTERM, harness._on_signal)
    try:
        sizes = [("10k", args.small_portals), ("1M", args.big_portals)]
        if args.only:
            sizes = [s for s in sizes if s[0] == args.only]
        manifests = {
            label: ensure_db(out, label, portals, args.calls_per_portal, args.reuse_db)
            for label, portals in sizes
        }
        baseline = harness.Figure("baseline", "baseline")
        harness.run_baseline(cfg, baseline, 1)
        figs: list[harness.Figure] = []
        for label, _ in sizes:
            pair = {s: harness.Figure(label, s) for s in ("stat-page", "register+finish")}
            run_server(cfg, label, manifests[label], pair)
            figs.extend(pair.values())
        harness.run_baseline(cfg, baseline, 2)
    finally:
        harness.stop_all()
    table = report(figs, baseline)
    print(table)
    (out / "telephony-results.md").write_text(table + "\n")
    (out / "telephony-results.json").write_text(
        json.dumps(
            {"baseline": baseline.runs, "figures": [f.__dict__ for f in figs]},
            indent=1,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
