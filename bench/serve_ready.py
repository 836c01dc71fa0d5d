"""`trunkline serve` time to ready: from the process start to migrated, seeded, the webhook
printed and `/health` answering, on a fresh SQLite file (goal: under 1 s).

    .venv/bin/python bench/serve_ready.py [--runs 7] [--seed]

Each run starts `python -m trunkline serve --port 0 --json` (SIP engine off) in an empty
temporary directory and polls stdout for the JSON line, then `/health` every 5 ms. Three
moments are reported (ms, median and max): `printed` (migrated, seeded, the webhook URL on
stdout), `ready` (`/health` answers 200), and for comparison `python -c pass` and
`trunkline --version` (the interpreter and import floor). `--seed` adds a scenario document
(`serve --seed`: two users, a webhook, an installed app, two lines). `--tls` adds `--tls`
(a CA and a certificate made on the fresh directory).
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


def one(extra: list[str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="trunkline-ready-") as directory:
        Path(directory, "scenario.json").write_text(json.dumps(SCENARIO))
        env = {**os.environ, "TRUNKLINE_SIP_ENGINE": "off", "PYTHONUNBUFFERED": "1"}
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
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        return (printed - began) * 1000, (ready - began) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", action="store_true", help="serve --seed scenario.json")
    parser.add_argument("--tls", action="store_true", help="serve --tls")
    args = parser.parse_args()
    extra = (["--seed", "scenario.json"] if args.seed else []) + (["--tls"] if args.tls else [])
    runs = [one(extra) for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "flags": extra,
        "printed_ms": summary([r[0] for r in runs]),
        "ready_ms": summary([r[1] for r in runs]),
        "python_floor_ms": summary([floor(["-c", "pass"]) for _ in range(3)]),
        "version_ms": summary([floor(["-m", "trunkline", "--version"]) for _ in range(3)]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
