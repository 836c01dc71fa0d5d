"""Built-in telephony reads against the Starlette baseline, measured in the same run.

    bench/run-builtin                      # 3 runs of 10 s per scenario (~2 min)
    BENCH_DURATION=5 bench/run-builtin --runs 2

Scenarios (issue 11; goal >= 0.5x the baseline's req/s):

* ``user``: ``voximplant.user.get`` for one user (USER_ID 1, phone activated);
* ``lines``: ``voximplant.line.get`` on a portal with 10 lines (5 cloud, 5 office).

Both servers run as ``bench.py`` runs them (one uvicorn worker, uvloop, httptools, no
access log, no SIP engine); the baseline is ``baseline_app.py`` (Starlette + orjson, a
canned ~1.3 KB body). wrk: one thread, 32 connections. Medians of the runs are printed
and written to ``bench/out/builtin-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (
    BENCH,
    PYTHON,
    free_port,
    group_cpu,
    log,
    post_json,
    start,
    stop,
    stop_all,
    wait_http,
    wrk,
)

SCENARIOS = {
    "user": ("voximplant.user.get", {"USER_ID": 1}),
    "lines": ("voximplant.line.get", {}),
}
GOAL = 0.5


def lua(directory: Path, name: str, body: dict[str, object]) -> Path:
    path = directory / f"{name}.lua"
    text = json.dumps(body, separators=(",", ":")).replace("'", "\\'")
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{text}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def runs(url: str, script: Path, pid: int, n: int, seconds: int) -> dict[str, float]:
    wrk(url, script, 2, [])  # warm-up, discarded
    rps, cpu = [], []
    for _ in range(n):
        c0, _rss = group_cpu(pid)
        res = wrk(url, script, seconds, [])
        c1, _rss = group_cpu(pid)
        assert res["non2xx"] == 0, res
        rps.append(float(res["rps"]))  # type: ignore[arg-type]
        cpu.append((c1 - c0) / max(int(res["requests"]), 1) * 1e6)  # type: ignore[call-overload]
        log(f"  {url.rsplit('/', 1)[-1]}: {rps[-1]:.0f} req/s, {cpu[-1]:.0f} us CPU/req")
    return {"rps": statistics.median(rps), "cpu_us": statistics.median(cpu), "runs": rps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "10")))
    args = parser.parse_args()
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="builtin-", dir=out))
    figures: dict[str, dict[str, float]] = {}
    try:
        port = free_port()
        flags = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        flags += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        base_proc = start(
            [str(PYTHON), "-m", "uvicorn", "baseline_app:app", *flags, "--log-level", "warning"],
            600,
            work / "baseline.log",
            BENCH,
        )
        url = f"http://127.0.0.1:{port}/rest/1/abc/voximplant.sip.get"
        wait_http(url, base_proc)
        log(f"baseline on :{port}")
        figures["baseline"] = runs(
            url, lua(work, "baseline", {"start": 0}), base_proc.pid, args.runs, args.duration
        )
        stop(base_proc)

        port = free_port()
        proc = start(
            [str(PYTHON), "-m", "trunkline", "serve", "--port", str(port)],
            900,
            work / "server.log",
            work,
        )
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        text = (work / "server.log").read_text(errors="replace")
        found = re.search(r"webhook URL: (http://\S+/rest/\d+/[a-z0-9]+/)", text)
        assert found, text
        hook = found.group(1)
        for n in range(10):
            kind = "cloud" if n < 5 else "office"
            body = {"TYPE": kind, "TITLE": f"line {n}", "SERVER": "s", "LOGIN": f"l{n}"}
            status, answer = post_json(hook + "voximplant.sip.add", body)
            assert status == 200, answer
        status, answer = post_json(hook + "voximplant.user.activatePhone", {"USER_ID": 1})
        assert status == 200, answer
        for name, (method, body) in SCENARIOS.items():
            status, answer = post_json(hook + method, body)
            assert status == 200 and answer["result"], answer
            if name == "lines":
                assert len(answer["result"]) == 10, answer  # type: ignore[arg-type]
            log(f"trunkline {method} on :{port}")
            figures[name] = runs(
                hook + method, lua(work, name, body), proc.pid, args.runs, args.duration
            )
        stop(proc)
    finally:
        stop_all()
    base = figures["baseline"]["rps"]
    print(f"baseline (Starlette + orjson, canned body): {base:.0f} req/s")
    for name, (method, _) in SCENARIOS.items():
        fig = figures[name]
        ratio = fig["rps"] / base
        fig["ratio"] = round(ratio, 2)
        verdict = "meets" if ratio >= GOAL else "misses"
        print(
            f"{method}: {fig['rps']:.0f} req/s, {fig['cpu_us']:.0f} us CPU/req,"
            f" {ratio:.2f}x the baseline ({verdict} the {GOAL}x goal)"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"builtin-{stamp}.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
