#!/usr/bin/env python3
"""The limiters' overhead as clients see it: ``trunkline serve`` under wrk, limits off,
in-process (``--limits``) and through Redis (``--limits --redis-url``).

    .venv/bin/python bench/limits/server.py [--runs 3] [--duration 6] [--webhooks 3000]

``bench.py`` beside it drives the application in-process, without HTTP, which makes the
limiters' share of a call as large as it can be (a lower bound on the ratio). This script
measures the same call the way bench/run does: one server worker (uvloop, httptools, no
access log), ``wrk -t1 -c32``, a discarded warm-up, and the server's CPU per request. Each
run starts a fresh server per configuration (fresh limiter state, a fresh Redis key
prefix), one configuration after the other in alternating order; a run's ratio is a
configuration's req/s over the limits-off req/s of the same run, and the verdict is the
median of the runs' ratios.

Every call must be admitted (a refused one is cheaper): the calls go round-robin over
``--webhooks`` webhooks of one portal, so each caller makes well under the 50 calls its
bucket holds in a server's lifetime; a run with any non-2xx answer is reported as invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


harness = _load("trunkline_bench", HERE.parent / "bench.py")  # processes, wrk, CPU
inprocess = _load("trunkline_limits_bench", HERE / "bench.py")  # its seed()

CONFIGS = ("off", "in-process", "redis")
GOALS = {"in-process": 0.9, "redis": 0.7}
SCRIPT = HERE / "lua" / "callers.lua"


def serve_args(name: str, redis_url: str) -> list[str]:
    if name == "off":
        return []
    if name == "in-process":
        return ["--limits"]
    return ["--limits", "--redis-url", redis_url]


def one(
    cfg: harness.Config, db: DatabaseUrl, codes: Path, name: str, redis_url: str, key: str
) -> dict[str, object]:
    port = harness.free_port()
    env = {"TRUNKLINE_SECRET_KEY": key, "TRUNKLINE_REDIS_PREFIX": f"tlb:{secrets.token_hex(6)}:"}
    proc = harness.start(
        [
            str(harness.PYTHON),
            "-m",
            "trunkline",
            "serve",
            "--port",
            str(port),
            "--database-url",
            db.raw,
            *serve_args(name, redis_url),
        ],
        cfg.warmup + cfg.duration + 90,
        cfg.out / f"limits-{name}.log",
        HERE,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        harness.wait_http(f"{base}/rest/server.time", proc)
        fig = harness.Figure("limits", name)
        harness.measure(fig, cfg, proc, base, SCRIPT, lambda _tag: [str(codes)])
        return fig.runs[0]
    finally:
        harness.stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs (each measures every configuration)")
    ap.add_argument("--duration", type=int, default=6, help="seconds of each measured wrk run")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of the discarded warm-up")
    ap.add_argument("--webhooks", type=int, default=3000, help="callers, round-robin")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="'': skip Redis")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = harness.Config(args.duration, args.warmup, 1, args.out.resolve(), False, 0)
    names = [n for n in CONFIGS if n != "redis" or args.redis_url]
    with tempfile.TemporaryDirectory() as tmp:
        db = DatabaseUrl(f"sqlite:///{Path(tmp) / 'limits.sqlite3'}")
        migrate.upgrade(db)
        key = new_key()
        settings = Settings(database_url=db.raw, secret_key=key, sip_engine="off")
        codes = asyncio.run(inprocess.seed(settings, args.webhooks))
        code_file = Path(tmp) / "codes.txt"
        code_file.write_text("\n".join(codes) + "\n")
        rows: dict[str, list[dict[str, object]]] = {n: [] for n in names}
        try:
            for run in range(args.runs):
                for name in names if run % 2 == 0 else list(reversed(names)):
                    res = one(cfg, db, code_file, name, args.redis_url, key)
                    rows[name].append(res)
                    print(
                        f"run {run + 1}: {name:<10} {float(res['rps']):8.0f} req/s"  # type: ignore[arg-type]
                        f"  {res['server_cpu_us_per_req']} µs CPU/req  non-2xx {res['non2xx']}"
                        f"  other load {res['other_cores']}",
                        file=sys.stderr,
                    )
        finally:
            harness.stop_all()
    report: dict[str, object] = {"runs": args.runs, "webhooks": args.webhooks}
    invalid = any(int(r["non2xx"]) for rs in rows.values() for r in rs)  # type: ignore[call-overload]
    for name in names:
        rps = [float(r["rps"]) for r in rows[name]]  # type: ignore[arg-type]
        cpu = [float(r["server_cpu_us_per_req"]) for r in rows[name]]  # type: ignore[arg-type]
        entry: dict[str, object] = {
            "median_rps": round(statistics.median(rps)),
            "server_cpu_us_per_req": round(statistics.median(cpu), 1),
        }
        if name != "off":
            off = [float(r["rps"]) for r in rows["off"]]  # type: ignore[arg-type]
            paired = [mine / plain for mine, plain in zip(rps, off, strict=True)]
            entry["ratio"] = round(statistics.median(paired), 3)
            entry["run_ratios"] = [round(x, 3) for x in paired]
        report[name] = entry
    print(json.dumps(report, indent=2))
    if invalid:
        print("INVALID: some calls were refused (raise --webhooks)")
        return 1
    for name, goal in GOALS.items():
        if name in report:
            ratio = float(report[name]["ratio"])  # type: ignore[index]
            verdict = "meets" if ratio >= goal else "MISSES"
            print(f"server, {name}: {ratio:.3f}x of limits off ({verdict} {goal}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
