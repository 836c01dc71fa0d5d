"""How long ``trunkline --help`` (and other quick commands) take to start, against a bare
``python -c pass`` measured in the same run.

    .venv/bin/python bench/cli_startup.py            # 20 runs of each command
    .venv/bin/python bench/cli_startup.py --runs 50 --json
    git archive main src | tar -x -C /tmp/before     # an older tree to compare with
    .venv/bin/python bench/cli_startup.py --before /tmp/before/src

Each command runs ``--runs`` times in turn (interleaved, so a burst of load hits all of them
alike); the table shows the median and the fastest run in milliseconds of wall-clock time,
the median CPU time (user + system: what the command itself spends, which other processes'
load changes less than the wall clock), and the median as a ratio to the bare interpreter.
``--before SRC`` adds the same commands run from another source tree (``PYTHONPATH=SRC``,
same interpreter and dependencies), measured in the same run.
``-X importtime`` of one ``--help`` run is summed by top-level package with ``--imports`` to
show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "trunkline --help": ["-m", "trunkline", "--help"],
    "trunkline webhook create --help": ["-m", "trunkline", "webhook", "create", "--help"],
    "trunkline --version": ["-m", "trunkline", "--version"],
}


def once(python: str, args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    subprocess.run([python, *args], check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports(python: str) -> dict[str, float]:
    """Cumulative import time (ms) of each top-level package under ``trunkline --help``."""
    out = subprocess.run(
        [python, "-X", "importtime", "-m", "trunkline", "--help"],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    totals: dict[str, float] = defaultdict(float)
    for line in out.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_part, _cumulative, name = line.split("|", 2)
        if not self_part.split(":")[-1].strip().isdigit():
            continue  # the header line
        package = name.strip().split(".")[0]
        totals[package] += int(self_part.split(":")[-1]) / 1000
    return dict(sorted(totals.items(), key=lambda item: -item[1])[:15])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--imports", action="store_true", help="also sum -X importtime")
    parser.add_argument("--before", help="a source tree (its src/) to compare with")
    args = parser.parse_args()
    os.environ.pop("_ARGCOMPLETE", None)
    plans: dict[str, tuple[list[str], dict[str, str] | None]] = {
        name: (argv, None) for name, argv in COMMANDS.items()
    }
    if args.before:
        env = {**os.environ, "PYTHONPATH": str(Path(args.before).resolve())}
        for name, argv in COMMANDS.items():
            if name.startswith("trunkline"):
                plans[f"{name} (before)"] = (argv, env)
    for argv, env_ in plans.values():  # warm the file cache and .pyc files
        once(args.python, argv, env_)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in plans}
    for _ in range(args.runs):
        for name, (argv, env_) in plans.items():
            runs[name].append(once(args.python, argv, env_))
    bare = statistics.median(wall for wall, _ in runs["python -c pass"])
    rows = {
        name: {
            "median_ms": round(statistics.median(w for w, _ in times) * 1000, 1),
            "min_ms": round(min(w for w, _ in times) * 1000, 1),
            "cpu_ms": round(statistics.median(c for _, c in times) * 1000, 1),
            "ratio": round(statistics.median(w for w, _ in times) / bare, 2),
        }
        for name, times in runs.items()
    }
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    report = {"runs": args.runs, "load": load, "commands": rows}
    if args.imports:
        report["imports_ms"] = imports(args.python)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.runs} runs each; load average {' '.join(load)}")
    print(f"{'command':<45} {'median ms':>10} {'min ms':>8} {'CPU ms':>8} {'× python':>9}")
    for name, row in rows.items():
        print(
            f"{name:<45} {row['median_ms']:>10} {row['min_ms']:>8} {row['cpu_ms']:>8}"
            f" {row['ratio']:>9}"
        )
    if args.imports:
        print("\nimport time by package (ms, self time summed):")
        for package, ms in report["imports_ms"].items():
            print(f"  {package:<24} {ms:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
