#!/usr/bin/env python3
"""The request journal's cost on bench/run's scenarios, A/B in one run (issue 12).

    bench/run --journal [--rounds 10] [--duration 3] [--warmup 2] [--journal-size 10000]

Two `trunkline serve` processes (one worker each, as bench/run starts them) on two copies
of the 10k-line database: one with the journal on (`TRUNKLINE_JOURNAL_SIZE`, default the
setting's default), one with it off (`TRUNKLINE_JOURNAL_SIZE=0`). For each of bench/run's
scenarios (page, one, add) each server gets a discarded wrk warm-up, then ROUNDS rounds of
one wrk run against each, the order alternating (on/off, off/on, ...) so that a drift of the
machine's load falls on both alike. The servers stay up throughout: nothing but the journal
setting differs between them.

Per run it records req/s and the server's CPU per request (every thread of the server's
process group, from /proc/<pid>/task/*/schedstat: the figure least moved by other load on a
shared machine). Per scenario it prints the median CPU µs per request on and off, the
overhead as the median of the rounds' paired ratios (on / off - 1) with their range, and
the req/s medians; the load average before and after. Then, unless --no-alone, the
journal's own CPU per call measured alone (`bench/journal_cost.py`, flushed every 200 ms
worth of the 'on' server's rate) and its share of the 'off' server's CPU per request: the
same overhead without the noise of two runs compared. Servers are started afresh for each
scenario, and the 'on' server's journal logs, when it stops, what its flushes cost in the
server itself (rows, flushes, CPU): the table shows that per call too. The table goes to
stdout and to `bench/out/journal-ab.md`, every run to `bench/out/journal-ab.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (
    BENCH,
    LUA,
    PYTHON,
    SCENARIOS,
    Config,
    _on_signal,
    children_cpu,
    ensure_db,
    free_port,
    group_cpu,
    log,
    machine_notes,
    portal_sets,
    post_json,
    start,
    stop_all,
    system_busy,
    wait_http,
    wrk,
)

SIDES = ("on", "off")


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def copy_db(manifest: dict[str, object], out: Path, side: str) -> str:
    """A fresh copy of the loaded database (and its key) for one server; its URL."""
    source = Path(str(manifest["db"]))
    target = out / f"journal-{side}.sqlite3"
    for suffix in ("-wal", "-shm", ".key", ""):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(str(source) + ".key", str(target) + ".key")
    return f"sqlite:///{target}"


JOURNAL_LINE = re.compile(
    r"request journal: (\d+) rows written in (\d+) flushes, ([\d.]+) ms of CPU"
)


def journal_log(path: Path) -> dict[str, float]:
    """What the 'on' server's journal says its flushes cost (logged when it stops)."""
    found = JOURNAL_LINE.search(path.read_text(errors="replace"))
    if found is None:
        return {}
    rows, flushes, ms = int(found[1]), int(found[2]), float(found[3])
    return {"rows": rows, "flushes": flushes, "us_per_row": round(ms * 1000 / rows, 2)}


def journal_rows(out: Path, side: str) -> int:
    with sqlite3.connect(out / f"journal-{side}.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


def serve(
    cfg: Config, url: str, side: str, journal_size: int | None, budget: int, scenario: str
) -> tuple:
    port = free_port()
    env = {} if journal_size is None else {"TRUNKLINE_JOURNAL_SIZE": str(journal_size)}
    if side == "off":
        env["TRUNKLINE_JOURNAL_SIZE"] = "0"
    proc = start(
        [str(PYTHON), "-m", "trunkline", "serve", "--port", str(port), "--database-url", url],
        budget,
        cfg.out / f"journal-{side}-{scenario}.log",
        cfg.out,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", proc)
    return proc, base


def one_run(proc: object, base: str, args: list[str], seconds: int) -> dict[str, object]:
    c0, _ = group_cpu(proc.pid)  # type: ignore[attr-defined]
    b0, k0, t0 = system_busy(), children_cpu(), time.monotonic()
    res = wrk(base, LUA / "trunkline.lua", seconds, args)
    b1, k1, t1 = system_busy(), children_cpu(), time.monotonic()
    c1, _ = group_cpu(proc.pid)  # type: ignore[attr-defined]
    server, client = c1 - c0, k1 - k0
    res["server_cpu_us_per_req"] = round(server / max(int(res["requests"]), 1) * 1e6, 1)  # type: ignore[call-overload]
    res["server_cores"] = round(server / (t1 - t0), 2)
    res["other_cores"] = round(max(0.0, (b1 - b0) - server - client) / (t1 - t0), 2)
    return res


def together_run(
    servers: dict[str, tuple], args: dict[str, list[str]], seconds: int
) -> dict[str, dict[str, object]]:
    """One wrk run against each server at the same time (--together): both see the same
    load from the rest of the machine."""
    c0 = {side: group_cpu(servers[side][0].pid)[0] for side in SIDES}
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(SIDES)) as pool:
        futures = {
            side: pool.submit(wrk, servers[side][1], LUA / "trunkline.lua", seconds, args[side])
            for side in SIDES
        }
        found = {side: future.result() for side, future in futures.items()}
    t1 = time.monotonic()
    for side in SIDES:
        server = group_cpu(servers[side][0].pid)[0] - c0[side]
        res = found[side]
        res["server_cpu_us_per_req"] = round(server / max(int(res["requests"]), 1) * 1e6, 1)  # type: ignore[call-overload]
        res["server_cores"] = round(server / (t1 - t0), 2)
        res["other_cores"] = None
    return found


def summary(runs: dict[str, list[dict[str, object]]]) -> dict[str, float]:
    def med(side: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[side])  # type: ignore[arg-type]

    paired = [
        (float(on["server_cpu_us_per_req"]) / float(off["server_cpu_us_per_req"]) - 1) * 100  # type: ignore[arg-type]
        for on, off in zip(runs["on"], runs["off"], strict=True)
    ]
    quartiles = (
        statistics.quantiles(paired, n=4, method="inclusive") if len(paired) > 1 else paired * 3
    )
    others = [
        float(r["other_cores"]) for s in SIDES for r in runs[s] if r["other_cores"] is not None
    ]  # type: ignore[arg-type]
    return {
        "on_us": round(med("on", "server_cpu_us_per_req"), 1),
        "off_us": round(med("off", "server_cpu_us_per_req"), 1),
        "overhead_pct": round(statistics.median(paired), 1),
        "overhead_q1": round(quartiles[0], 1),
        "overhead_q3": round(quartiles[2], 1),
        "overhead_min": round(min(paired), 1),
        "overhead_max": round(max(paired), 1),
        "on_rps": round(med("on", "rps")),
        "off_rps": round(med("off", "rps")),
        "other_cores": round(statistics.median(others), 2) if others else float("nan"),
    }


def alone(scenario: str, rps: float, size: int) -> dict[str, object]:
    """bench/journal_cost.py for one scenario: the journal's own CPU per call, flushed every
    ``journal_flush_ms`` (200) worth of calls at ``rps``."""
    batch = max(1, round(rps * 0.2))
    r = subprocess.run(
        [
            "timeout",
            "600",
            str(PYTHON),
            str(BENCH / "journal_cost.py"),
            "--scenarios",
            scenario,
            "--batch",
            str(batch),
            "--size",
            str(size),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"journal_cost.py failed:\n{r.stdout}\n{r.stderr}")
    found: dict[str, object] = json.loads(r.stdout.strip().splitlines()[-1])[scenario]
    found["batch"] = batch
    return found


def table(result: dict[str, object], cfg: Config, rounds: int) -> str:
    lines = [
        f"## Journal A/B ({result['when']})",
        "",
        f"Two servers on copies of the 10k-line database, journal on "
        f"(`journal_size` {result['journal_size']}) and off (0); per scenario a "
        f"{cfg.warmup} s warm-up each, then {rounds} rounds of one {cfg.duration} s wrk run "
        "(-t1 -c32) against each, order alternating. CPU = server CPU µs per request "
        "(all threads); overhead = median of the rounds' paired on/off − 1, with its "
        "interquartile range and range. In the server = what the 'on' server's journal "
        "logged its flushes cost (loop thread CPU per row: values, masking, encoding, INSERT "
        "and trimming; not the call's append nor the checkpoint thread), and as a share of "
        "the 'off' CPU. Alone = the journal's own CPU per call (`bench/journal_cost.py`: the "
        "scenario's calls replayed into a full journal, flushed every 200 ms of the 'on' "
        "server's rate, all threads), and as a share of the 'off' CPU. "
        f"Load average before {result['load_before']}, after {result['load_after']}.",
        "",
        "| scenario | CPU µs off | CPU µs on | **A/B overhead** | IQR | range "
        "| in the server µs/call | **÷ off** | alone µs/call | ÷ off | req/s off | req/s on "
        "| other load (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in result["scenarios"]:  # type: ignore[attr-defined]
        found = result["scenarios"][scenario]  # type: ignore[index]
        s, own, situ = found["summary"], found.get("alone"), found.get("in_situ")
        own_text = (
            f"{own['us_per_call']:.1f} | {own['us_per_call'] / s['off_us'] * 100:.1f} %"
            if own
            else "— | —"
        )
        situ_text = (
            f"{situ['us_per_row']:.1f} | **{situ['share_of_off_pct']:.1f} %**" if situ else "— | —"
        )
        lines.append(
            f"| {scenario} | {s['off_us']:.0f} | {s['on_us']:.0f} | **{s['overhead_pct']:+.1f} %** "
            f"| {s['overhead_q1']:+.1f} … {s['overhead_q3']:+.1f} % "
            f"| {s['overhead_min']:+.1f} … {s['overhead_max']:+.1f} % | {situ_text} | {own_text} "
            f"| {s['off_rps']:,} | {s['on_rps']:,} | {s['other_cores']:.2f} |"
        )
    lines += ["", f"Source: {result['source']}.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="on/off pairs per scenario (10)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (3)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of each warm-up (2)")
    ap.add_argument(
        "--journal-size",
        type=int,
        default=None,
        help="journal_size of the 'on' server (default: the setting's default; 0: an A/A "
        "run, both servers without the journal, to show the method's own bias and noise)",
    )
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="page,one,add")
    ap.add_argument(
        "--together",
        action="store_true",
        help="run wrk against both servers at the same time instead of one after the other",
    )
    ap.add_argument(
        "--no-alone", action="store_true", help="skip the journal's own cost (journal_cost.py)"
    )
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()
    scenarios = [s for s in a.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s} (known: {', '.join(SCENARIOS)})")
    a.out = a.out.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = Config(a.duration, a.warmup, a.rounds, a.out, False, 0)
    per_scenario = 2 * (a.warmup + a.rounds * (a.duration + 3)) + 10
    budget = 300 + len(scenarios) * (per_scenario + 60)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    signal.signal(signal.SIGALRM, _on_signal)
    signal.alarm(budget)
    result: dict[str, object] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_average(),
        "journal_size": {None: "default (10000)", 0: "0: an A/A run, off in both"}.get(
            a.journal_size, a.journal_size
        ),
        "config": {"rounds": a.rounds, "duration": a.duration, "warmup": a.warmup},
        "scenarios": {},
    }
    log(f"journal A/B: {a.rounds} rounds x {a.duration} s, load average {result['load_before']}")
    try:
        manifest = ensure_db(cfg, "db-small", 100, 100, True)
        lines = int(manifest["lines_per_portal"])  # type: ignore[call-overload]
        gets, adds = portal_sets(int(manifest["portals"]))  # type: ignore[call-overload]
        urls = {side: copy_db(manifest, a.out, side) for side in SIDES}
        tag0 = f"ab{os.getpid()}.{int(time.time())}"
        for scenario in scenarios:
            portals = adds if scenario == "add" else gets
            runs: dict[str, list[dict[str, object]]] = {side: [] for side in SIDES}
            # Servers started afresh per scenario: the 'on' server's log then says what
            # its journal's flushes cost during this scenario alone.
            servers = {}
            for side in SIDES:
                servers[side] = serve(cfg, urls[side], side, a.journal_size, budget, scenario)
                status, body = post_json(
                    f"{servers[side][1]}/rest/1/bench{gets[0]:011d}/voximplant.sip.get", {}
                )
                assert status == 200 and body["total"] == lines, (side, status, body)

            def args(tag: str, scenario: str = scenario, portals: tuple = portals) -> list[str]:
                return [scenario, *map(str, portals), str(lines), tag]

            for side in SIDES:
                proc, base = servers[side]
                wrk(base, LUA / "trunkline.lua", a.warmup, args(f"{tag0}-{side}-w"))
            for r in range(a.rounds):
                if a.together:
                    pair = together_run(
                        servers, {side: args(f"{tag0}-{side}-{r}") for side in SIDES}, a.duration
                    )
                    for side in SIDES:
                        pair[side]["round"] = r
                        runs[side].append(pair[side])
                    log(
                        f"  {scenario} round {r + 1}/{a.rounds} together: "
                        + ", ".join(
                            f"{side} {pair[side]['rps']:.0f} req/s "
                            f"{pair[side]['server_cpu_us_per_req']} us CPU/req"
                            for side in SIDES
                        )
                    )
                    continue
                for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                    proc, base = servers[side]
                    res = one_run(proc, base, args(f"{tag0}-{side}-{r}"), a.duration)
                    res["round"] = r
                    runs[side].append(res)
                    if res["non2xx"]:
                        raise SystemExit(f"{side} {scenario}: {res['non2xx']} non-2xx answers")
                    log(
                        f"  {scenario} round {r + 1}/{a.rounds} journal {side}: "
                        f"{res['rps']:.0f} req/s, {res['server_cpu_us_per_req']} us CPU/req, "
                        f"other {res['other_cores']} cores"
                    )
            stop_all()
            s = summary(runs)
            in_situ = journal_log(a.out / f"journal-on-{scenario}.log")
            if in_situ:
                in_situ["share_of_off_pct"] = round(in_situ["us_per_row"] / s["off_us"] * 100, 2)
            log(f"{scenario}: {s}, in the server: {in_situ}")
            result["scenarios"][scenario] = {"summary": s, "runs": runs, "in_situ": in_situ}  # type: ignore[index]
    finally:
        signal.alarm(0)
        stop_all()
    # The check that the A/B measured what it says: rows in the 'on' copy only.
    result["journal_rows"] = {side: journal_rows(a.out, side) for side in SIDES}
    log(f"journal rows after the runs: {result['journal_rows']}")
    if result["journal_rows"]["off"] or (a.journal_size != 0) != bool(result["journal_rows"]["on"]):
        raise SystemExit("the 'on' server must have journal rows and the 'off' server none")
    result["load_after"] = load_average()
    if not a.no_alone and a.journal_size != 0:
        for scenario, found in result["scenarios"].items():  # type: ignore[attr-defined]
            found["alone"] = alone(scenario, found["summary"]["on_rps"], a.journal_size or 10000)
            log(f"{scenario} alone: {found['alone']}")
    result["source"] = machine_notes()["trunkline source"]
    text = table(result, cfg, a.rounds)
    print(text)
    (a.out / "journal-ab.md").write_text(text)
    (a.out / "journal-ab.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"written {a.out / 'journal-ab.md'} and journal-ab.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
