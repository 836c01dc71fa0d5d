#!/usr/bin/env python3
"""Trunkline HTTP benchmark: voximplant.sip.get/add against a bare Starlette+orjson baseline.

Run it through ``bench/run`` (which installs wrk first). See bench/README.md.

Steps:
1. load two SQLite databases with ``bench/load.py``: BIG (10,000 portals x 100
   lines = 1,000,000 lines) and SMALL (100 portals x 100 = 10,000 lines);
2. measure the baseline (perf-anchors.md Anchor 2: Starlette + orjson, canned
   1,316-byte body) under uvicorn, one worker, uvloop + httptools, no access log;
3. for each database: start ``python -m trunkline serve`` (one worker), check the
   answers once with a plain HTTP client, then for each scenario a discarded
   wrk warm-up and RUNS measured wrk runs (``wrk -t1 -c32 -dN --latency``);
4. measure the baseline again (so drift during the run shows), and report the
   median of each figure and its ratio to the median of all baseline runs.

Every process runs in its own session under ``timeout`` and is stopped through
its process group; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = Path(sys.executable)
LUA = BENCH / "lua"
WEBHOOK_LINE = re.compile(r"webhook URL: (http://\S+/rest/\d+/[a-z0-9]+/)")

# Targets of issue 2 (ratio of req/s to the baseline measured in the same run).
TARGETS = {"page": 0.25, "one": 0.5, "add": 0.5}
# Goals of issue 13 on PostgreSQL (--database postgresql); the add has none there.
PG_TARGETS: dict[str, float | None] = {"page": 0.25, "one": 0.4, "add": None}
SCENARIOS = {
    "page": "voximplant.sip.get, first 50-row page + total (POST {})",
    "one": "voximplant.sip.get, FILTER {CONFIG_ID: n} (1 row)",
    "add": "voximplant.sip.add, office line, unique TITLE",
}

CHILDREN: list[subprocess.Popen[bytes]] = []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    cmd: list[str], limit: int, logfile: Path, cwd: Path, *, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``timeout LIMIT cmd`` in its own session (process group = its PID); ``env`` adds
    variables to the environment."""
    out = open(logfile, "wb")  # noqa: SIM115 - closed in stop()
    proc = subprocess.Popen(
        ["timeout", str(limit), *cmd],
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # The bench measures the REST path: no SIP engine in the worker (and so no
        # registration traffic at all; the loaded cloud lines point at 127.0.0.1 anyway).
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TRUNKLINE_SIP_ENGINE": "off",
            # Comparable with the figures before the access log existed (its cost: README).
            "TRUNKLINE_ACCESS_LOG": "0",
            **(env or {}),
        },
    )
    proc._bench_log = out  # type: ignore[attr-defined]
    CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (the timeout wrapper and the server), then KILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    proc._bench_log.close()  # type: ignore[attr-defined]
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def stop_all(*_: object) -> None:
    for proc in list(CHILDREN):
        stop(proc)


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def wait_http(url: str, proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {limit} s")


def group_cpu(pgid: int) -> tuple[float, int]:
    """CPU seconds (schedstat, every thread) and RSS KiB of the group, less the wrapper."""
    total = 0
    rss = 0
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == pgid:
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            if int(s[s.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            for tid in os.listdir(f"/proc/{d}/task"):
                with open(f"/proc/{d}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            with open(f"/proc/{d}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+)", f.read())
                rss += int(m.group(1)) if m else 0
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9, rss


def system_busy() -> float:
    """CPU seconds all processes of the machine have used (``/proc/stat``, all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of our finished, waited-for children (wrk through its `timeout`)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(limit: float) -> tuple[float, float]:
    """Wait (at most ``limit`` s) until the rest of the machine uses < 0.25 core.
    Returns (seconds waited, cores busy in the last 1 s sample)."""
    t0 = time.monotonic()
    cores = 0.0
    while True:
        b0 = system_busy()
        time.sleep(1.0)
        cores = system_busy() - b0
        if cores < 0.25 or time.monotonic() - t0 >= limit:
            return round(time.monotonic() - t0, 1), round(cores, 2)


def loaded_modules(pgid: int) -> list[str]:
    """Which of uvloop / httptools the server process has mapped (sanity of the stack)."""
    found: set[str] = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == pgid:
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            if int(s[s.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            with open(f"/proc/{d}/maps") as f:
                maps = f.read()
        except (OSError, ValueError, IndexError):
            continue
        for name in ("uvloop", "httptools"):
            if f"/{name}/" in maps:
                found.add(name)
    return sorted(found)


# -- wrk ----------------------------------------------------------------------


def to_ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if not m:
        raise ValueError(value)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[m.group(2)]


def wrk(url: str, script: Path, seconds: int, args: list[str]) -> dict[str, object]:
    cmd = [
        "timeout",
        str(seconds + 20),
        "wrk",
        "-t1",
        "-c32",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if args:
        cmd += ["--", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = r.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if r.returncode != 0 or not m:
        raise SystemExit(f"wrk failed ({r.returncode}): {' '.join(cmd)}\n{out}\n{r.stderr}")
    res: dict[str, object] = {
        "rps": float(m.group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }
    for p in ("50", "75", "90", "99"):
        pm = re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{p}_ms"] = round(to_ms(pm.group(1)), 3) if pm else None
    nm = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(nm.group(1)) if nm else 0
    sm = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = sm.group(1).strip() if sm else ""
    return res


# -- measurements -------------------------------------------------------------


@dataclass
class Figure:
    db: str  # "baseline", "1M", "10k"
    scenario: str  # "baseline", "page", "one", "add"
    runs: list[dict[str, object]] = field(default_factory=list)

    def median(self, key: str) -> float:
        values = [float(r[key]) for r in self.runs if r.get(key) is not None]  # type: ignore[arg-type]
        return statistics.median(values) if values else float("nan")


@dataclass
class Config:
    duration: int
    warmup: int
    runs: int
    out: Path
    profile: bool
    quiet_wait: float = 20.0
    quiet_timeouts: int = 0  # waits that ran out; after two, stop waiting


def measure(
    fig: Figure,
    cfg: Config,
    proc: subprocess.Popen[bytes],
    url: str,
    script: Path,
    args_for: object,
) -> None:
    """One discarded warm-up, then cfg.runs measured runs with server CPU per request."""
    # Unique per invocation too: add TITLEs must never repeat on a reused database.
    tag = f"{fig.db}-{fig.scenario}-{os.getpid()}.{int(time.time())}"
    if cfg.quiet_wait > 0 and cfg.quiet_timeouts < 2:
        waited, cores = wait_quiet(cfg.quiet_wait)
        if cores >= 0.25:
            cfg.quiet_timeouts += 1
        if waited >= 2:
            log(f"  waited {waited} s for the machine to quieten (other load now {cores} cores)")
    wrk(url, script, cfg.warmup, args_for(f"{tag}-w") if callable(args_for) else [])
    for i in range(cfg.runs):
        c0, _ = group_cpu(proc.pid)
        b0, k0, t0 = system_busy(), children_cpu(), time.monotonic()
        res = wrk(
            url,
            script,
            cfg.duration,
            args_for(f"{tag}-r{len(fig.runs)}") if callable(args_for) else [],
        )
        b1, k1, t1 = system_busy(), children_cpu(), time.monotonic()
        c1, rss = group_cpu(proc.pid)
        server, client = c1 - c0, k1 - k0
        res.update(
            run=len(fig.runs),
            server_cores=round(server / cfg.duration, 2),
            server_cpu_us_per_req=round(server / max(int(res["requests"]), 1) * 1e6, 1),  # type: ignore[call-overload]
            server_rss_mb=round(rss / 1024, 1),
            wrk_cores=round(client / cfg.duration, 2),
            # whatever else ran on the machine meanwhile (other sessions' tests, ...)
            other_cores=round(max(0.0, (b1 - b0) - server - client) / (t1 - t0), 2),
        )
        fig.runs.append(res)
        log(
            f"  {fig.db}-{fig.scenario} run {i + 1}/{cfg.runs}: {res['rps']:.0f} req/s"
            f"  p50 {res['p50_ms']} ms"
            f"  p99 {res['p99_ms']} ms  non-2xx {res['non2xx']}  "
            f"{res['server_cpu_us_per_req']} us CPU/req  server {res['server_cores']} / wrk "
            f"{res['wrk_cores']} / other {res['other_cores']} cores"
        )


def post_json(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def run_baseline(cfg: Config, fig: Figure, round_no: int) -> None:
    run_plain(cfg, fig, f"baseline-{round_no}", "baseline_app:app", LUA / "baseline.lua", [])


def run_http_floor(cfg: Config, fig: Figure) -> None:
    """raw_app.py: uvicorn's, httptools' and the kernel's share of a single-line get."""
    args = ["one", "1", "2", "50", "100", "floor"]
    run_plain(cfg, fig, "http-floor", "raw_app:app", LUA / "trunkline.lua", args)


def run_plain(cfg: Config, fig: Figure, name: str, app: str, script: Path, args: list[str]) -> None:
    """A server that is not Trunkline, under the options `trunkline serve` uses."""
    port = free_port()
    budget = cfg.warmup + cfg.runs * (cfg.duration + 25) + 60
    proc = start(
        [
            str(PYTHON),
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--proxy-headers",
            "--log-level",
            "warning",
        ],
        budget,
        cfg.out / f"{name}.log",
        BENCH,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/rest/1/abc/voximplant.sip.get"
        wait_http(url, proc)
        status, body = post_json(url, {"start": 0})
        size = len(json.dumps(body, separators=(",", ":")))
        assert status == 200 and size > 600, (status, size)
        fig.stack = loaded_modules(proc.pid)  # type: ignore[attr-defined]
        log(f"{name} on :{port}, stack {fig.stack}")  # type: ignore[attr-defined]
        args_for = (lambda _tag: args) if args else None
        measure(fig, cfg, proc, base if args else url, script, args_for)
    finally:
        stop(proc)


def portal_sets(portals: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(first, step, count) of the portals the gets read and of those the adds grow:
    odd and even ids, at most 1,000 each, spread evenly over the whole database."""
    count = min(1000, portals // 2)
    step = 2 * max(1, (portals // 2) // count)
    return (1, step, count), (2, step, count)


def run_server(
    cfg: Config, manifest: dict[str, object], figs: dict[str, Figure]
) -> dict[str, object]:
    db_label = next(iter(figs.values())).db
    port = free_port()
    budget = 3 * (cfg.warmup + cfg.runs * (cfg.duration + 25)) + 120
    if cfg.profile:
        budget += 3 * (cfg.duration + 30)
    proc = start(
        [
            str(PYTHON),
            "-m",
            "trunkline",
            "serve",
            "--port",
            str(port),
            "--database-url",
            str(manifest["database_url"]),
        ],
        budget,
        cfg.out / f"server-{db_label}.log",
        cfg.out,
        env={"TRUNKLINE_KEY_FILE": str(manifest["key_file"])} if "key_file" in manifest else None,
    )
    info: dict[str, object] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        wait_http(f"{base}/health", proc)
        info["startup_s"] = round(time.monotonic() - t0, 2)
        info["stack"] = loaded_modules(proc.pid)
        text = (cfg.out / f"server-{db_label}.log").read_text(errors="replace")
        m = WEBHOOK_LINE.search(text)
        info["printed_webhook"] = bool(m)
        if re.search(r"SIP engine started|office registrar|SIP registrar listening", text):
            raise SystemExit(f"server {db_label} started a SIP engine; see its log")
        lines = int(manifest["lines_per_portal"])  # type: ignore[call-overload]
        gets, adds = portal_sets(int(manifest["portals"]))  # type: ignore[call-overload]
        info["get_portals"], info["add_portals"] = gets, adds
        log(
            f"server {db_label} on :{port} ({manifest['lines']} lines, "
            f"{manifest['portals']} portals), up in {info['startup_s']} s, stack {info['stack']}"
        )

        # Sanity: one plain call of each kind, checked field by field.
        if m:
            status, body = post_json(m.group(1) + "voximplant.sip.get", {})
            assert status == 200, ("seeded webhook", status, body)
        hook = f"{base}/rest/1/bench{gets[0] + gets[1]:011d}/"
        status, body = post_json(hook + "voximplant.sip.get", {})
        assert status == 200 and len(body["result"]) == min(50, lines), (status, body)  # type: ignore[arg-type]
        assert body["total"] == lines and body.get("next") == (50 if lines > 50 else None), body
        info["page_bytes"] = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
        status, body = post_json(hook + "voximplant.sip.get", {"FILTER": {"CONFIG_ID": lines}})
        assert status == 200 and body["total"] == 1, (status, body)
        assert body["result"][0]["CONFIG_ID"] == str(lines), body  # type: ignore[index]
        info["one_bytes"] = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
        add_hook = f"{base}/rest/1/bench{adds[0]:011d}/"
        status, body = post_json(
            add_hook + "voximplant.sip.add",
            {
                "TYPE": "office",
                "TITLE": f"bench sanity {time.time()}",
                "SERVER": "pbx.example.com",
                "LOGIN": "user0",
                "PASSWORD": "secret0",
            },
        )
        assert status == 200 and int(body["result"]["CONFIG_ID"]) > lines, (status, body)  # type: ignore[index]
        info["add_bytes"] = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False))

        url = base
        for scenario, fig in figs.items():
            portals = adds if scenario == "add" else gets

            def args_for(
                tag: str, scenario: str = scenario, portals: tuple[int, int, int] = portals
            ) -> list[str]:
                return [scenario, *map(str, portals), str(lines), tag.replace(" ", "_")]

            measure(fig, cfg, proc, url, LUA / "trunkline.lua", args_for)
            if cfg.profile:
                profile(cfg, proc, url, scenario, db_label, args_for)
        status, body = post_json(hook + "voximplant.sip.get", {})
        assert status == 200 and body["total"] == lines, "get portals must not have grown"
        status, body = post_json(add_hook + "voximplant.sip.get", {})
        info["add_portal_lines_after"] = body.get("total")
    finally:
        stop(proc)
    return info


def profile(
    cfg: Config, proc: subprocess.Popen[bytes], url: str, scenario: str, db: str, args_for: object
) -> None:
    """An extra, unmeasured wrk run with py-spy attached to the server (--profile)."""
    spy = PYTHON.parent / "py-spy"
    if not spy.exists():
        log("  --profile: py-spy not in the venv (.venv/bin/pip install py-spy); skipped")
        return
    server_pid = next(
        (
            int(d)
            for d in os.listdir("/proc")
            if d.isdigit() and int(d) != proc.pid and _pgid(int(d)) == proc.pid
        ),
        None,
    )
    if server_pid is None:
        return
    raw = cfg.out / f"profile-{db}-{scenario}.txt"
    spy_proc = subprocess.Popen(
        [
            "timeout",
            str(cfg.duration + 20),
            str(spy),
            "record",
            "--pid",
            str(server_pid),
            "--duration",
            str(cfg.duration),
            "--rate",
            "500",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(0.5)
        wrk(url, LUA / "trunkline.lua", cfg.duration, args_for(f"{db}-{scenario}-prof"))  # type: ignore[operator]
        spy_proc.wait(30)
    finally:
        if spy_proc.poll() is None:
            os.killpg(spy_proc.pid, signal.SIGTERM)
            spy_proc.wait(10)
    if raw.exists():
        (cfg.out / f"profile-{db}-{scenario}.top.txt").write_text(summarise_profile(raw))
        log(f"  profile written: {raw.name} (+ .top.txt)")


def _pgid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return int(s[s.rindex(")") + 2 :].split()[2])
    except (OSError, ValueError, IndexError):
        return -1


def summarise_profile(raw: Path, top: int = 40) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    selfc: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \((/[^)]*/)?([^/)]+)\)", r" (\2)", f) for f in stack.split(";")]
        selfc[frames[-1]] = selfc.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    out = [f"{total} samples\n", "## self\n"]
    for f, n in sorted(selfc.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"{100 * n / total:5.1f}%  {f}\n")
    out.append("\n## inclusive (trunkline frames)\n")
    for f, n in sorted(incl.items(), key=lambda kv: -kv[1]):
        if "trunkline" in f or any(
            k in f for k in ("store.py", "sql.py", "secrets.py", "voximplant_sip.py", "app.py")
        ):
            out.append(f"{100 * n / total:5.1f}%  {f}\n")
    return "".join(out[: 3 + top * 3])


# -- loading ------------------------------------------------------------------


def ensure_db(cfg: Config, name: str, portals: int, lines: int, reuse: bool) -> dict[str, object]:
    db = cfg.out / f"{name}.sqlite3"
    man = Path(str(db) + ".json")
    if reuse and db.exists() and man.exists():
        manifest = json.loads(man.read_text())
        sys.path.insert(0, str(BENCH))
        from load import LOADER_VERSION

        if (
            manifest.get("portals") == portals
            and manifest.get("lines_per_portal") == lines
            and manifest.get("loader_version") == LOADER_VERSION
        ):
            log(f"reusing {db.name} ({manifest['lines']} lines)")
            manifest["reused"] = True
            return manifest  # type: ignore[no-any-return]
    log(f"loading {db.name}: {portals} portals x {lines} lines")
    r = subprocess.run(
        [
            "timeout",
            "600",
            str(PYTHON),
            str(BENCH / "load.py"),
            "--db",
            str(db),
            "--portals",
            str(portals),
            "--lines",
            str(lines),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"load.py failed:\n{r.stdout}\n{r.stderr}")
    manifest = json.loads(r.stdout.strip().splitlines()[-1])
    log(
        f"  {manifest['lines']} lines in {manifest['seconds']['total']} s "
        f"({manifest['size_mb']} MB)"
    )
    return manifest  # type: ignore[no-any-return]


def to_postgres(manifest: dict[str, object], server: str, label: str) -> dict[str, object]:
    """The manifest of a copy of the SQLite database in PostgreSQL (bench/pg_copy.py)."""
    schema = "bench_big" if label == "1M" else "bench_small"
    url = f"{server}?schema={schema}"
    log(f"copying {Path(str(manifest['db'])).name} into PostgreSQL schema {schema}")
    r = subprocess.run(
        ["timeout", "1800", str(PYTHON), str(BENCH / "pg_copy.py"), str(manifest["db"]), url],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"pg_copy.py failed:\n{r.stdout}\n{r.stderr}")
    copied = json.loads(r.stdout.strip().splitlines()[-1])
    log(f"  copied in {copied['seconds']} s")
    return {
        **manifest,
        "database_url": url,
        "key_file": f"{manifest['db']}.key",
        "copy_seconds": copied["seconds"],
    }


# -- report -------------------------------------------------------------------


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def machine_notes() -> dict[str, str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?"
            )
    except OSError:
        pass
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    versions = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import importlib.metadata as m;print(' '.join(f'{p} {m.version(p)}' for p in "
            "('trunkline','starlette','uvicorn','uvloop','httptools','orjson','cryptography')))",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem_gb:.0f} GiB",
        "os": f"Linux {platform.release()}, Debian {debian}",
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "wrk": (wrk_v.stdout + wrk_v.stderr).split("\n", 1)[0].strip(),
        "packages": versions,
        "trunkline source": f"commit {head or '?'}"
        + (f" + {len(dirty.splitlines())} modified files in src/" if dirty else ""),
    }


def flatness(figs: list[Figure]) -> str:
    by = {(f.db, f.scenario): f for f in figs}
    parts = [
        f"{s} {by['1M', s].median('rps') / by['10k', s].median('rps'):.2f} "
        f"(CPU/req {by['1M', s].median('server_cpu_us_per_req') / by['10k', s].median('server_cpu_us_per_req'):.2f})"  # noqa: E501
        for s in TARGETS
        if ("1M", s) in by and ("10k", s) in by
    ]
    return "Flatness, 1M / 10k: req/s " + ", ".join(parts) + "." if parts else ""


def report(
    cfg: Config,
    base: Figure,
    figs: list[Figure],
    infos: dict[str, dict[str, object]],
    manifests: dict[str, dict[str, object]],
    started: float,
    quick: bool,
    floor: Figure | None = None,
) -> str:
    b = base.median("rps")
    notes = machine_notes()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Results ({when}{', QUICK smoke run: not a measurement' if quick else ''})",
        "",
        f"wrk -t1 -c32 -d{cfg.duration}s --latency; warm-up {cfg.warmup} s discarded; "
        f"figures are medians of {cfg.runs} runs per server and scenario "
        f"(baseline: {len(base.runs)} runs, before and after the servers). "
        "Ratio = median req/s / baseline median req/s of this run. "
        "p50/p99 are wrk's closed-loop latencies at saturation (32 connections). "
        "'other load' is the CPU the rest of the machine (not the server, not wrk) used "
        "during the runs, median; above ~0.2 core the two cores were shared and "
        "the figures are depressed. "
        "'CPU ratio' = baseline server CPU per request / this server CPU per request: "
        "what the req/s ratio would be if both servers were CPU-bound on a quiet core "
        "(less sensitive to other load; an estimate, not the target's measure).",
        "",
        "| database | scenario | req/s (runs) | **median req/s** | p50 ms | p99 ms "
        "| server CPU µs/req | other load (cores) | **ratio** | CPU ratio | target | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines.append(
        f"| — | baseline: Starlette + orjson, canned 1,316 B | "
        f"{' · '.join(fmt_int(float(r['rps'])) for r in base.runs)} | **{fmt_int(b)}** | "  # type: ignore[arg-type]
        f"{base.median('p50_ms'):.2f} | {base.median('p99_ms'):.2f} | "
        f"{base.median('server_cpu_us_per_req'):.0f} | {base.median('other_cores'):.2f} "
        "| 1.00 | 1.00 | | |"
    )
    base_cpu = base.median("server_cpu_us_per_req")
    if floor is not None and floor.runs:
        # Not a target: what the HTTP server alone costs a request like the single get.
        lines.append(
            f"| — | HTTP floor: raw ASGI app, Trunkline's headers, 687 B (`raw_app.py`) | "
            f"{' · '.join(fmt_int(float(r['rps'])) for r in floor.runs)} | "  # type: ignore[arg-type]
            f"{fmt_int(floor.median('rps'))} | "
            f"{floor.median('p50_ms'):.2f} | {floor.median('p99_ms'):.2f} | "
            f"{floor.median('server_cpu_us_per_req'):.0f} | {floor.median('other_cores'):.2f} "
            f"| {floor.median('rps') / b:.2f} | "
            f"{base_cpu / floor.median('server_cpu_us_per_req'):.2f} | | |"
        )
    verdicts = []
    for fig in figs:
        rps = fig.median("rps")
        ratio = rps / b
        target = PG_TARGETS[fig.scenario] if fig.db.endswith(" pg") else TARGETS[fig.scenario]
        non2xx = sum(int(r["non2xx"]) for r in fig.runs)  # type: ignore[call-overload]
        ok = (target is None or ratio >= target) and not non2xx
        if target is not None:
            verdicts.append(ok)
        db_text = {
            "1M": "1,000,000 lines / 10,000 portals",
            "10k": "10,000 lines / 100 portals",
        }.get(fig.db, fig.db)
        lines.append(
            f"| {db_text} | {SCENARIOS[fig.scenario]} | "
            f"{' · '.join(fmt_int(float(r['rps'])) for r in fig.runs)} | **{fmt_int(rps)}** | "  # type: ignore[arg-type]
            f"{fig.median('p50_ms'):.2f} | {fig.median('p99_ms'):.2f} | "
            f"{fig.median('server_cpu_us_per_req'):.0f} | {fig.median('other_cores'):.2f} | "
            f"**{ratio:.2f}** | {base_cpu / fig.median('server_cpu_us_per_req'):.2f} | "
            f"{'—' if target is None else f'≥ {target}'} | "
            f"{'' if target is None else 'pass' if ok else 'MISS'}"
            f"{f' (INVALID: {non2xx} non-2xx)' if non2xx else ''} |"
        )
    goals = "issue 13, PostgreSQL" if any(f.db.endswith(" pg") for f in figs) else "issue 2"
    first_base = [r for r in base.runs if int(r["round"]) == 1]  # type: ignore[call-overload]
    last_base = [r for r in base.runs if int(r["round"]) == 2]  # type: ignore[call-overload]
    lines += [
        "",
        flatness(figs),
        f"Baseline drift: before {fmt_int(statistics.median(float(r['rps']) for r in first_base))}"  # type: ignore[arg-type]
        f" req/s, after {fmt_int(statistics.median(float(r['rps']) for r in last_base))} req/s."  # type: ignore[arg-type]
        if first_base and last_base
        else "",
        "",
        "Setup: "
        + "; ".join(
            f"{label}: {m['lines']:,} lines in {m['portals']:,} portals, loaded in "  # type: ignore[str-format]
            f"{m['seconds']['total']} s{' (reused)' if m.get('reused') else ''}, "  # type: ignore[index]
            f"{m['size_mb']} MB, server up in {infos.get(label, {}).get('startup_s')} s, "
            f"an add portal ended with {infos.get(label, {}).get('add_portal_lines_after')} lines"
            for label, m in manifests.items()
        )
        + ". Gets read 1,000 (10k DB: 50) portals spread "
        "over the database, adds grow another 1,000 (50); one server worker; "
        f"server stack {next(iter(infos.values()), {}).get('stack')}, "
        f"baseline stack {getattr(base, 'stack', '?')}. Response sizes: "
        + ", ".join(
            f"{k.split('_')[0]} {v:,} B"
            for k, v in next(iter(infos.values()), {}).items()
            if k.endswith("_bytes")
        )  # type: ignore[str-format]
        + ".",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in notes.items()) + ".",
        f"Whole run: {time.monotonic() - started:.0f} s.",
        "",
        f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (1 / 5 / 15 min).",
        "",
        f"Targets ({goals}): {'all met' if all(verdicts) else 'NOT all met'}.",
        "",
    ]
    return "\n".join(x for x in lines if x is not None)


# -- main ---------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description="Trunkline REST benchmark (see bench/README.md)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 s runs, 1 s warm-up, 2 runs, databases reused if present",
    )
    ap.add_argument(
        "--duration",
        type=int,
        default=int(os.environ.get("BENCH_DURATION", "10")),
        help="seconds per measured wrk run (env BENCH_DURATION, default 10)",
    )
    ap.add_argument(
        "--warmup",
        type=int,
        default=int(os.environ.get("BENCH_WARMUP", "3")),
        help="seconds of the discarded warm-up (env BENCH_WARMUP, default 3)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=int(os.environ.get("BENCH_RUNS", "3")),
        help="measured runs per scenario (env BENCH_RUNS, default 3; at least 2)",
    )
    ap.add_argument("--big-portals", type=int, default=10_000)
    ap.add_argument("--small-portals", type=int, default=100)
    ap.add_argument("--lines-per-portal", type=int, default=100)
    ap.add_argument(
        "--reuse-db",
        action="store_true",
        help="reuse bench/out/*.sqlite3 when their manifest matches (adds grow them)",
    )
    ap.add_argument("--only", choices=["1M", "10k"], help="measure one database only")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="after each scenario, an extra run under py-spy (needs py-spy in .venv)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=float(os.environ.get("BENCH_QUIET_WAIT", "20")),
        help="before each scenario, wait up to this many seconds for the rest of "
        "the machine to use < 0.25 core (env BENCH_QUIET_WAIT, default 20; 0: off)",
    )
    ap.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the backend measured: the SQLite files, or copies of them in PostgreSQL "
        "(schemas bench_big/bench_small at --postgres-url)",
    )
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server for --database postgresql (env BENCH_POSTGRES_URL)",
    )
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.warmup, a.runs = min(a.duration, 2), 1, 2
        a.reuse_db = True
    a.runs = max(a.runs, 2)
    a.out = a.out.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = Config(a.duration, a.warmup, a.runs, a.out, a.profile, a.quiet_wait)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    # Hard bound on the whole run: loading + 9 blocks (2 baselines, the HTTP floor, 6
    # scenarios) + slack.
    per_block = cfg.warmup + cfg.runs * (cfg.duration + 3) + 5 + int(cfg.quiet_wait) + 1
    budget = 600 + 9 * per_block + (6 * (cfg.duration + 10) + 400 if cfg.profile else 0)
    signal.signal(signal.SIGALRM, _on_signal)
    signal.alarm(budget)
    started = time.monotonic()
    log(
        f"bench: {cfg.runs} x {cfg.duration} s per scenario, warm-up {cfg.warmup} s, "
        f"hard limit {budget} s; output in {cfg.out}"
    )

    try:
        manifests: dict[str, dict[str, object]] = {}
        if a.only in (None, "1M"):
            manifests["1M"] = ensure_db(
                cfg, "db-big", a.big_portals, a.lines_per_portal, a.reuse_db
            )
        if a.only in (None, "10k"):
            manifests["10k"] = ensure_db(
                cfg, "db-small", a.small_portals, a.lines_per_portal, a.reuse_db
            )
        if a.database == "postgresql":
            manifests = {
                f"{label} pg": to_postgres(manifest, a.postgres_url, label)
                for label, manifest in manifests.items()
            }
        base = Figure("baseline", "baseline")
        run_baseline(cfg, base, 1)
        for r in base.runs:
            r["round"] = 1
        floor = Figure("http-floor", "http-floor")
        run_http_floor(cfg, floor)
        figs: list[Figure] = []
        infos: dict[str, dict[str, object]] = {}
        for label, manifest in manifests.items():
            group = {s: Figure(label, s) for s in TARGETS}
            infos[label] = run_server(cfg, manifest, group)
            figs += group.values()
        run_baseline(cfg, base, 2)
        for r in base.runs:
            r.setdefault("round", 2)
        table = report(cfg, base, figs, infos, manifests, started, a.quick, floor)
        print(table)
        (cfg.out / "results.md").write_text(table)
        (cfg.out / "results.json").write_text(
            json.dumps(
                {
                    "config": {"duration": cfg.duration, "warmup": cfg.warmup, "runs": cfg.runs},
                    "baseline": base.runs,
                    "http_floor": floor.runs,
                    "figures": [{"db": f.db, "scenario": f.scenario, "runs": f.runs} for f in figs],
                    "servers": infos,
                    "databases": manifests,
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
        log(f"written {cfg.out / 'results.md'} and results.json")
        if cfg.profile:
            for label, manifest in manifests.items():
                out = cfg.out / f"profile-inprocess-{label}.md"
                r = subprocess.run(
                    [
                        "timeout",
                        "600",
                        str(PYTHON),
                        str(BENCH / "profile_path.py"),
                        str(manifest["db"]),
                        "--calls",
                        "2000",
                        "--sql",
                        "--cprofile",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                out.write_text(r.stdout + r.stderr)
                log(f"in-process profile: {out}")
        return 0
    finally:
        signal.alarm(0)
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
