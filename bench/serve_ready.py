"""`trunkline serve` time to ready: from the process start to migrated, seeded, the webhook
printed and `/health` answering, on a fresh SQLite file (goal: under 1 s).

    .venv/bin/python bench/serve_ready.py [--runs 10] [--seed] [--tls] [--before SRC]
    git archive main src | tar -x -C /tmp/before     # an older tree to compare with

Each run starts `python -m trunkline serve --port 0 --json` (SIP engine off) in an empty
temporary directory and polls stdout for the JSON line, then `/health` every 5 ms. Three
moments are reported (ms, median and max): `printed` (migrated, seeded, the webhook URL on
stdout), `ready` (`/health` answers 200), the CPU time the server used until ready
(user + system, from /proc: less moved by other processes' load than the wall clock), and
for comparison `python -c pass` and
`trunkline --version` (the interpreter and import floor). `--seed` adds a scenario document
(`serve --seed`: two users, a webhook, an installed app, two lines). `--tls` adds `--tls`
(a CA and a certificate made on the fresh directory). ``--before SRC`` also starts the
same server from another source tree (``PYTHONPATH=SRC``, same interpreter and
dependencies), alternating with this one's runs so that load hits both alike, and reports
the ratio of the medians. Each moment is reported as median, p90 and max; the load average
is printed with them. Python writes no ``.pyc`` files when ``PYTHONDONTWRITEBYTECODE`` is
set (as in this machine's shells): then every start compiles trunkline's own modules
(``bytecode_cached`` says which); ``--bytecode`` unsets it for the servers, after one
warm-up start, as after a wheel's install.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SCENARIO = {
    "domain": "bench.example",
    "users": [{"login": "admin", "admin": True}, {"login": "op", "phone_inner": "101"}],
    "webhooks": [{"user": 1}],
    "apps": [{"title": "Dialer"}],
    "lines": [
        {"type": "office", "title": "PBX", "server": "pbx.example", "login": "u"},
        {"type": "cloud", "title": "Cloud", "server": "sip.example", "login": "c", "app": 0},
    ],
}


def floor(args: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return (time.perf_counter() - began) * 1000


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def one(extra: list[str], base_env: dict[str, str]) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(prefix="trunkline-ready-") as directory:
        Path(directory, "scenario.json").write_text(json.dumps(SCENARIO))
        env = {**base_env, "TRUNKLINE_SIP_ENGINE": "off", "PYTHONUNBUFFERED": "1"}
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "trunkline", "serve", "--port", "0", "--json", *extra],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            picker = selectors.DefaultSelector()
            picker.register(proc.stdout, selectors.EVENT_READ)
            line = b""
            while not line.startswith(b"{"):
                if not picker.select(timeout=30):
                    raise RuntimeError("serve printed nothing in 30 s")
                line = proc.stdout.readline()
            printed = time.perf_counter()
            info = json.loads(line)
            assert info["webhook_url"], info
            health = info["url"] + "/health"
            context = None
            if info.get("tls"):
                import ssl

                context = ssl.create_default_context(cafile=info["tls"]["ca_file"])
            while True:
                try:
                    with urllib.request.urlopen(health, timeout=1, context=context) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.005)
            ready = time.perf_counter()
            cpu = cpu_ms(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        return (printed - began) * 1000, (ready - began) * 1000, cpu


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(values), 1),
        "p90": round(p90, 1),
        "max": round(max(values), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", action="store_true", help="serve --seed scenario.json")
    parser.add_argument("--tls", action="store_true", help="serve --tls")
    parser.add_argument("--before", metavar="SRC", help="a source tree (its src/) to compare")
    parser.add_argument("--bytecode", action="store_true", help="let Python cache bytecode")
    args = parser.parse_args()
    extra = (["--seed", "scenario.json"] if args.seed else []) + (["--tls"] if args.tls else [])
    env = dict(os.environ)
    if args.bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    trees = {"now": env}
    if args.before:
        trees["before"] = {**env, "PYTHONPATH": str(Path(args.before).resolve())}
    if args.bytecode:
        for tree_env in trees.values():  # writes the .pyc files
            one(extra, tree_env)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree_env in trees.items():
            runs[name].append(one(extra, tree_env))
    result: dict[str, object] = {
        "runs": args.runs,
        "flags": extra,
        "load": Path("/proc/loadavg").read_text().split()[:3],
        "bytecode_cached": "PYTHONDONTWRITEBYTECODE" not in env,
    }
    for name, times in runs.items():
        suffix = "" if name == "now" else f"_{name}"
        result[f"printed_ms{suffix}"] = summary([r[0] for r in times])
        result[f"ready_ms{suffix}"] = summary([r[1] for r in times])
        result[f"cpu_to_ready_ms{suffix}"] = summary([r[2] for r in times])
    if args.before:
        now, before = (statistics.median(r[1] for r in runs[n]) for n in ("now", "before"))
        result["ready_ratio_to_before"] = round(now / before, 2)
        now, before = (statistics.median(r[2] for r in runs[n]) for n in ("now", "before"))
        result["cpu_ratio_to_before"] = round(now / before, 2)
    result["python_floor_ms"] = summary([floor(["-c", "pass"]) for _ in range(3)])
    result["version_ms"] = summary([floor(["-m", "trunkline", "--version"]) for _ in range(3)])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
