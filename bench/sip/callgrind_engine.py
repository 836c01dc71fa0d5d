#!/usr/bin/env python3
"""The whole ``trunkline engine`` process under callgrind, driven by sipp: instructions a
phone's challenge + REGISTER, first and refresh, with everything the process does for it.

    .venv/bin/python bench/sip/callgrind_engine.py [--users 200] [--rate 8] [--label NAME]
        [--keep DIR]

``inprocess.py`` measures the registrar's own work, fed datagrams in batches; this runs the
real process as ``registrar.py`` does (one portal, N users whose phones are activated, a
SQLite database): its event loop, its sockets' Python side, the phone book's commits, the
history and its events, the WAL checkpointer thread. Valgrind slows the process ~50x, so
sipp runs at a low rate (8 REGISTER/s: about one request a wake-up, the least batching).
Counters are zeroed before each sipp pass (first REGISTERs, then refreshes from the same
contacts) and dumped 3 s after it, so each figure is that pass's instructions ÷ N: the
process's idle work during the pass is counted in it, as it is in ``registrar.py``'s CPU.
Kernel work (the socket calls themselves) is not counted. Needs valgrind and sipp.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from registrar import filled_engine, free_port, phone_credentials, run_sipp  # noqa: E402  (bench/sip/registrar.py)

START_TIMEOUT = 300  # the engine starting under valgrind (imports, migrations checked)
OPTIONS = (
    "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-ready-{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:ready@127.0.0.1>;tag=1\r\nTo: <sip:ready@127.0.0.1>\r\n"
    "Call-ID: ready-{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def wait_ready(port: int) -> None:
    """Until the engine answers an OPTIONS (then a few seconds more: start-up's tail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(2.0)
        local = probe.getsockname()[1]
        deadline = time.monotonic() + START_TIMEOUT
        n = 0
        while time.monotonic() < deadline:
            n += 1
            datagram = OPTIONS.format(port=port, local=local, n=n).encode()
            probe.sendto(datagram, ("127.0.0.1", port))
            try:
                if probe.recv(4096).startswith(b"SIP/2.0 200"):
                    time.sleep(10)
                    return
            except TimeoutError:
                continue
    raise SystemExit("bench/sip/callgrind_engine: the engine did not answer")


def totals(path: Path) -> int:
    """The instruction total of one callgrind dump."""
    found = re.search(r"^totals: (\d+)", path.read_text(), re.M)
    return int(found.group(1)) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rate", type=int, default=8, help="REGISTER transactions per second")
    parser.add_argument("--label", default="engine")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dumps to this directory")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "sipp"):
        if shutil.which(tool) is None:
            print(f"bench/sip/callgrind_engine: {tool} not found", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix=f"callgrind-{args.label}-"))
    db = work / "phones.sqlite3"
    port, env = filled_engine(db, args.users)
    env["PYTHONHASHSEED"] = "0"
    out = work / "callgrind.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--compress-strings=no",
        f"--callgrind-out-file={out}",
    ]
    command += [sys.executable, "-m", "trunkline", "engine"]
    with (work / "engine.log").open("wb") as log:
        engine = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    results: dict[str, object] = {"label": args.label, "users": args.users, "rate": args.rate}
    try:
        wait_ready(port)
        users = phone_credentials(args.users)
        local = free_port()
        for dump, kind in enumerate(("first", "refresh"), start=1):
            subprocess.run(["callgrind_control", "--zero", str(engine.pid)], capture_output=True)
            sipp = run_sipp(work, port, users, args.rate, local)
            time.sleep(3)  # the last answers' commits and history
            subprocess.run(
                ["callgrind_control", f"--dump={kind}", str(engine.pid)], capture_output=True
            )
            time.sleep(1)
            instructions = totals(Path(f"{out}.{dump}"))
            ok = sipp["ok"] or 0
            results[kind] = {"ok": ok, "instructions_per_register": instructions // max(ok, 1)}
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(120)
    print(json.dumps(results), flush=True)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        for dump in work.glob("callgrind.out*"):
            shutil.copy(dump, args.keep / f"{args.label}.{dump.name}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
