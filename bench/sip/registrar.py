"""N user phones register to a registrar: Trunkline's office registrar against Kamailio's.

    .venv/bin/python bench/sip/registrar.py                 # N = 10,000 at 200 REGISTER/s
    .venv/bin/python bench/sip/registrar.py --users 2000 --rate 300
    .venv/bin/python bench/sip/registrar.py --floor   # and floor.py, a Python yardstick
    .venv/bin/python bench/sip/registrar.py --kamailio-db   # and Kamailio storing its bindings
    .venv/bin/python bench/sip/registrar.py --kamailio-db --floor --rounds 3   # interleaved

One sipp UAC (UDP, one socket) registers N distinct users, each with the challenge round
trip then the authenticated REGISTER (MD5, qop=auth, Expires 3600), at a fixed rate:

* **Kamailio 5.6** as the registrar (bench.py's REGISTRAR_CFG: `pv_www_authenticate`,
  `save("location")`, usrloc in memory), users `uNNNNN` / `pNNNNN`;
* with `--kamailio-db`, **Kamailio 5.6 storing its bindings**: the same configuration with
  usrloc's `db_mode` 1 (write-through: a binding's insert or update is committed before the
  reply) to SQLite in WAL mode, one worker, the file in /dev/shm (a commit's fsync costs
  nothing there): the peer that, like Trunkline, still has its bindings after a restart;
* **Trunkline** `trunkline engine` (the office registrar, no cloud line) on a SQLite
  database with one portal and N users whose phones are activated (`phoneN` / `pNNNNN`,
  the credentials `voximplant.user.get` gives).

Measured per registrar over the whole sipp run: CPU seconds of every thread of its
processes (schedstat) ÷ authenticated REGISTERs answered 200 = CPU per authenticated
REGISTER (its challenge included); PSS of its processes before and after ÷ N = memory per
binding, read again 40 s later (past Timer J, when the UDP transactions kept for
retransmissions are gone); for Trunkline also the database's growth ÷ N (where its
bindings live). Goals of
issue 11: CPU <= 2x Kamailio's, <= 2 KB per binding. Raw results: bench/sip/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import REGISTRAR_PORT, Proc, registered_contacts, start_registrar, wait_until  # noqa: E402

SETTLE = 40.0  # seconds after the run before memory is read again (past Timer J's 32 s)

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register_users">
<send retrans="500"><![CDATA[
  REGISTER sip:[remote_ip] SIP/2.0
  Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
  Max-Forwards: 70
  From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
  To: <sip:[field0]@[remote_ip]>
  Call-ID: [call_id]
  CSeq: 1 REGISTER
  Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
  Expires: 3600
  Content-Length: 0
]]></send>
<recv response="401" auth="true" />
<send retrans="500"><![CDATA[
  REGISTER sip:[remote_ip] SIP/2.0
  Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
  Max-Forwards: 70
  From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
  To: <sip:[field0]@[remote_ip]>
  Call-ID: [call_id]
  CSeq: 2 REGISTER
  Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
  Expires: 3600
  [field1]
  Content-Length: 0
]]></send>
<recv response="200" />
</scenario>
"""


def free_port() -> int:
    """A port free on both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def phone_credentials(n: int) -> list[tuple[str, str]]:
    """The SIP logins and passwords `fill` gives phones 1..n (and floor.py knows)."""
    return [(f"phone{i}", f"p{i:05d}") for i in range(1, n + 1)]


def run_sipp(work: Path, port: int, users: list[tuple[str, str]], rate: int, local: int) -> dict:
    scenario = work / "register.xml"
    scenario.write_text(SCENARIO)
    inject = work / "users.csv"
    auth = "[authentication username={} password={}]"
    inject.write_text("SEQUENTIAL\n" + "".join(f"{u};{auth.format(u, p)}\n" for u, p in users))
    command = ["timeout", "600", "sipp", f"127.0.0.1:{port}", "-sf", str(scenario)]
    command += ["-inf", str(inject), "-m", str(len(users)), "-r", str(rate), "-l", "400"]
    command += ["-i", "127.0.0.1", "-p", str(local), "-t", "u1", "-nostdin"]
    command += ["-timeout", "500s", "-trace_stat", "-stf", str(work / "stat.csv"), "-fd", "5"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    out = result.stdout + result.stderr
    successful = failed = None
    stats = work / "stat.csv"
    if stats.exists():  # (one file per run: removed below)
        rows = [r.split(";") for r in stats.read_text().splitlines() if r]
        head, last = rows[0], rows[-1]
        successful = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
        stats.unlink()
    return {"exit": result.returncode, "seconds": round(seconds, 1), "ok": successful,
            "failed": failed, "tail": out[-400:]}  # fmt: skip


async def fill(url: str, key: str, n: int) -> None:
    from trunkline.storage import migrate
    from trunkline.storage.secrets import Cipher
    from trunkline.storage.store import Store
    from trunkline.storage.url import DatabaseUrl

    database = DatabaseUrl(url)
    await migrate.upgrade_async(database)
    store = await Store.open(database, Cipher(key))
    try:
        portal = await store.accounts.create_portal("phones.bench")
        for i in range(1, n + 1):
            await store.accounts.create_user(portal.id, f"user{i}", user_id=i)
            await store.telephony.set_phone(portal.id, i, enabled=True, new_password=f"p{i:05d}")
    finally:
        await store.close()


def bench_kamailio(work: Path, n: int, rate: int, durable: bool = False) -> dict:
    """Kamailio's registrar; with `durable`, its usrloc written through to SQLite (WAL) in
    /dev/shm, where a commit's fsync costs nothing: the durable peer at its cheapest."""
    work.mkdir(parents=True, exist_ok=True)
    database = Path(f"/dev/shm/trunkline-bench-usrloc-{os.getpid()}.sqlite3") if durable else None
    registrar, ctl = start_registrar(work, database)
    try:
        time.sleep(1)
        pss0, cpu0 = registrar.rss_mb(), registrar.cpu()
        users = [(f"u{i:05d}", f"p{i:05d}") for i in range(1, n + 1)]
        local = free_port()
        sipp = run_sipp(work, REGISTRAR_PORT, users, rate, local)
        wait_until(lambda: registered_contacts(ctl) >= n, 30, "every contact")
        cpu1, pss1 = registrar.cpu(), registrar.rss_mb()
        again = run_sipp(work, REGISTRAR_PORT, users, rate, local)  # refreshes: same contacts
        cpu2 = registrar.cpu()
        bindings = registered_contacts(ctl)
        time.sleep(SETTLE)
        pss2 = registrar.rss_mb()
        stored = None
        if database is not None:
            with sqlite3.connect(database, timeout=10) as conn:
                stored = int(conn.execute("SELECT COUNT(*) FROM location").fetchone()[0])
    finally:
        registrar.stop()
        if database is not None:
            for path in database.parent.glob(database.name + "*"):
                path.unlink()
    name = "kamailio-db" if durable else "kamailio"
    result = summary(name, n, rate, sipp, cpu1 - cpu0, pss0, pss1, bindings)
    if stored is not None:
        result["stored_bindings"] = stored
    result["refresh"] = {"ok": again["ok"], "us_cpu_per_register": per(cpu2 - cpu1, again)}
    result["pss_bytes_per_binding_settled"] = round((pss2 - pss0) * 1024 * 1024 / max(bindings, 1))
    return result


def filled_engine(db: Path, n: int) -> tuple[int, dict[str, str]]:
    """A database at `db` filled as `fill` does, a free SIP port, and the environment of a
    `trunkline engine` serving it there (callgrind_engine.py runs the same engine)."""
    from trunkline.storage.secrets import new_key

    key = new_key()
    asyncio.run(fill(f"sqlite:///{db}", key, n))
    port = free_port()
    env = {
        **os.environ,
        "TRUNKLINE_DATABASE_URL": f"sqlite:///{db}",
        "TRUNKLINE_SECRET_KEY": key,
        "TRUNKLINE_SIP_HOST": "127.0.0.1",
        "TRUNKLINE_SIP_PORT": str(port),
        "TRUNKLINE_LOG_LEVEL": "warning",
    }
    return port, env


def bench_trunkline(work: Path, n: int, rate: int) -> dict:

    work.mkdir(parents=True, exist_ok=True)
    db = work / "phones.sqlite3"
    for stale in work.glob("phones.sqlite3*"):
        stale.unlink()
    port, env = filled_engine(db, n)
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "trunkline", "engine"]
    if os.environ.get("BENCH_CPROFILE"):  # a profile of the engine, written when it stops
        command[1:1] = ["-m", "cProfile", "-o", str(work / "engine.prof")]
    engine = Proc("trunkline", command, work, env)

    def count() -> int:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM phone_bindings").fetchone()[0])

    def size() -> int:
        return sum(p.stat().st_size for p in work.glob("phones.sqlite3*"))

    try:
        time.sleep(3)  # the engine opens the database and binds its ports
        size0 = size()
        pss0, cpu0 = engine.rss_mb(), engine.cpu()
        users = phone_credentials(n)
        local = free_port()
        sipp = run_sipp(work, port, users, rate, local)
        wait_until(lambda: count() >= n, 30, "every binding")
        cpu1, pss1 = engine.cpu(), engine.rss_mb()
        bindings = count()
        again = run_sipp(work, port, users, rate, local)  # refreshes: same contacts
        cpu3 = engine.cpu()
        time.sleep(SETTLE)  # UDP transactions are kept for Timer J (32 s), then dropped
        pss2 = engine.rss_mb()
        with sqlite3.connect(db, timeout=10) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        grown = size() - size0
    finally:
        engine.stop()
    result = summary("trunkline", n, rate, sipp, cpu1 - cpu0, pss0, pss1, bindings)
    result["refresh"] = {"ok": again["ok"], "us_cpu_per_register": per(cpu3 - cpu1, again)}
    result["db_bytes_per_binding"] = round(grown / max(bindings, 1))
    result["pss_bytes_per_binding_settled"] = round((pss2 - pss0) * 1024 * 1024 / max(bindings, 1))
    return result


def bench_floor(work: Path, n: int, rate: int) -> dict:
    """The same two sipp passes against floor.py, the least a Python registrar does."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, str(HERE / "floor.py"), str(port), str(n)]
    floor = Proc("floor", command, work)
    try:
        time.sleep(1)
        cpu0 = floor.cpu()
        users = phone_credentials(n)
        local = free_port()
        sipp = run_sipp(work, port, users, rate, local)
        cpu1 = floor.cpu()
        again = run_sipp(work, port, users, rate, local)
        cpu2 = floor.cpu()
    finally:
        floor.stop()
    return {
        "registrar": "python-floor",
        "users": n,
        "rate": rate,
        "sipp": sipp,
        "us_cpu_per_register": per(cpu1 - cpu0, sipp),
        "refresh": {"ok": again["ok"], "us_cpu_per_register": per(cpu2 - cpu1, again)},
    }


def per(cpu: float, sipp: dict) -> float:
    return round(cpu / max(sipp["ok"] or 0, 1) * 1e6, 1)


def summary(
    name: str, n: int, rate: int, sipp: dict, cpu: float, pss0: float, pss1: float, bound: int
) -> dict:
    ok = sipp["ok"] or bound
    return {
        "registrar": name,
        "users": n,
        "rate": rate,
        "sipp": sipp,
        "bindings": bound,
        "cpu_s": round(cpu, 3),
        "us_cpu_per_register": round(cpu / max(ok, 1) * 1e6, 1),
        "pss_mb_before": round(pss0, 1),
        "pss_mb_after": round(pss1, 1),
        "pss_bytes_per_binding": round((pss1 - pss0) * 1024 * 1024 / max(bound, 1)),
    }


def ratios(tl: dict, peer: dict) -> tuple[float, float]:
    """Trunkline's CPU per first pair and per refresh pair over `peer`'s."""
    first = tl["us_cpu_per_register"] / max(peer["us_cpu_per_register"], 0.1)
    again = tl["refresh"]["us_cpu_per_register"] / max(peer["refresh"]["us_cpu_per_register"], 0.1)
    return first, again


def report(rounds: list[dict[str, dict]]) -> None:
    """Per round, and the median over rounds, of each peer's figures and Trunkline's ratio."""
    names = {
        "kamailio": "Kamailio (usrloc in memory)",
        "kamailio-db": "Kamailio (SQLite)",
        "python-floor": "floor.py",
    }
    peers = [name for name in rounds[0] if name != "trunkline"]
    for k, measured in enumerate(rounds, 1):
        tl = measured["trunkline"]
        print(
            f"round {k}: Trunkline {tl['us_cpu_per_register']} / "
            f"{tl['refresh']['us_cpu_per_register']} us (first / refresh), "
            f"{tl['pss_bytes_per_binding']} B a binding in the process "
            f"({tl['pss_bytes_per_binding_settled']} B after {SETTLE:.0f} s) + "
            f"{tl['db_bytes_per_binding']} B in the database"
        )
        for name in peers:
            peer = measured[name]
            first, again = ratios(tl, peer)
            memory = peer.get("pss_bytes_per_binding")  # (floor.py's is not measured)
            print(
                f"  {names[name]}: {peer['us_cpu_per_register']} / "
                f"{peer['refresh']['us_cpu_per_register']} us: "
                f"Trunkline {first:.2f}x / {again:.2f}x"
                + ("" if memory is None else f"; {memory} B a binding in the process")
            )
    if len(rounds) > 1:
        for name in peers:
            pairs = [ratios(r["trunkline"], r[name]) for r in rounds]
            first = statistics.median(p[0] for p in pairs)
            again = statistics.median(p[1] for p in pairs)
            print(f"median over {len(rounds)} rounds, Trunkline / {names[name]}: "
                  f"{first:.2f}x a first pair, {again:.2f}x a refresh")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=200, help="REGISTER transactions per second")
    parser.add_argument("--skip-kamailio", action="store_true")
    parser.add_argument(
        "--floor", action="store_true", help="also measure floor.py, a minimal Python registrar"
    )
    parser.add_argument(
        "--kamailio-db",
        action="store_true",
        help="also measure Kamailio with its bindings written through to SQLite (db_mode 1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every registrar this many times, interleaved, and print the medians",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds: 1 to 9")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = HERE / ".work" / f"registrar-{stamp}"
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    rounds: list[dict[str, dict]] = []
    for k in range(1, args.rounds + 1):
        here = work / f"round-{k}"
        measured: dict[str, dict] = {}
        if not args.skip_kamailio:
            measured["kamailio"] = bench_kamailio(here / "kamailio", args.users, args.rate)
            print(json.dumps(measured["kamailio"]), flush=True)
        measured["trunkline"] = bench_trunkline(here / "trunkline", args.users, args.rate)
        print(json.dumps(measured["trunkline"]), flush=True)
        if args.kamailio_db:
            durable = bench_kamailio(here / "kamailio-db", args.users, args.rate, durable=True)
            measured["kamailio-db"] = durable
            print(json.dumps(durable), flush=True)
        if args.floor:
            measured["python-floor"] = bench_floor(here / "floor", args.users, args.rate)
            print(json.dumps(measured["python-floor"]), flush=True)
        rounds.append(measured)
        saved = [result for one in rounds for result in one.values()]
        (out / f"registrar-{stamp}.json").write_text(json.dumps(saved, indent=2))
    report(rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
