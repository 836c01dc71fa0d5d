"""Keep N cloud lines registered: Trunkline's engine against Kamailio's `uac` module.

Both clients register N users (uNNNNN / pNNNNN, Expires 60 unless --expires) to the same
loopback Kamailio registrar (perf-anchors.md Anchor 1, §1.2). For each client the harness
waits until every line is registered, lets it settle, then measures one steady window:
client CPU seconds (time on a CPU from /proc/<pid>/task/*/schedstat, in ns, summed over
every thread of the client's processes; utime + stime in 10 ms ticks where schedstat is
missing) and completed registrations (200 OK to REGISTER seen by the client: Trunkline's
`registered` counter, printed on SIGUSR1; Kamailio's `core:rcv_replies_2xx_reg`). Every
process binds 127.0.0.1, runs under `timeout`, and is stopped by its PID. Results go to
stdout as a Markdown table and to out/sip-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
TICKS = os.sysconf("SC_CLK_TCK")
REGISTRAR_PORT = 15070
UAC_PORT = 15080

REGISTRAR_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children={children}
auto_aliases=no
dns=no
rev_dns=no
disable_tcp=yes
maxbuffer=4194304
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "kex.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:{run}/reg_ctl")
{usrloc}
modparam("registrar", "min_expires", 30)
modparam("registrar", "max_expires", 3600)
modparam("auth", "secret", "loopback-test-secret")
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!is_method("REGISTER")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    $var(pw) = "p" + $(tU{{s.substr,1,0}});
    $var(rc) = pv_www_authenticate("$td", "$var(pw)", "0");
    if ($var(rc) < 0) {{
        if ($var(rc) == -4) {{ www_challenge("$td", "17"); }} else {{ www_challenge("$td", "1"); }}
        exit;
    }}
    consume_credentials();
    save("location");
    exit;
}}
"""

UAC_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=2
auto_aliases=no
dns=no
rev_dns=no
disable_tcp=yes
maxbuffer=4194304
listen=udp:127.0.0.1:{uac_port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "rr.so"
loadmodule "db_text.so"
loadmodule "uac.so"
loadmodule "ctl.so"
loadmodule "kex.so"
modparam("ctl", "binrpc", "unix:{run}/uac_ctl")
modparam("uac", "reg_db_url", "text://{db}")
modparam("uac", "reg_contact_addr", "127.0.0.1:{uac_port}")
modparam("uac", "reg_timer_interval", 5)
modparam("uac", "reg_retry_interval", 10)
modparam("uac", "reg_random_delay", {spread})
modparam("uac", "reg_hash_size", 10)
modparam("uac", "auth_username_avp", "$avp(auser)")
modparam("uac", "auth_password_avp", "$avp(apass)")
modparam("uac", "auth_realm_avp", "$avp(arealm)")
request_route {{
    exit;
}}
"""

UACREG_HEADER = (
    "id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) "
    "r_domain(string) realm(string) auth_username(string) auth_password(string) "
    "auth_ha1(string,null) auth_proxy(string) expires(int) flags(int) reg_delay(int) "
    "contact_addr(string,null) socket(string,null) \n"
)


class Proc:
    """A process started in its own session under `timeout`, stopped by its PID."""

    def __init__(
        self, name: str, command: list[str], workdir: Path, env: dict[str, str] | None = None
    ):
        self.name = name
        self.log = workdir / f"{name}.log"
        self.process = subprocess.Popen(
            ["timeout", "3600", *command],
            cwd=workdir,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )

    def pids(self) -> list[int]:
        """Every process in the session (the client's processes)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.process.pid:  # pgid (field 5)
                found.append(int(entry.name))
        return found

    def cpu(self) -> float:
        """CPU seconds of every thread of every process: /proc/<pid>/task/*/schedstat (ns).

        Falls back to utime + stime of /proc/<pid>/stat (10 ms ticks) without schedstat.
        """
        total = 0
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
            for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                try:
                    total += int(task.read_text().split()[0])  # ns spent on a CPU
                except (OSError, ValueError, IndexError):
                    continue
        return total / 1e9 if total else ticks / TICKS

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
            total += int(match.group(1)) if match else 0
        return total / 1024

    def stop(self) -> None:
        members = self.pids()
        if self.process.poll() is None or members:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        deadline = time.monotonic() + 15
        while self.pids() and time.monotonic() < deadline:  # the whole group must be gone
            time.sleep(0.1)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def kamcmd(socket_path: Path, *args: str) -> str:
    result = subprocess.run(
        ["timeout", "10", "kamcmd", "-s", f"unix:{socket_path}", *args],
        capture_output=True,
        text=True,
    )
    return result.stdout


def stat(socket_path: Path, group: str, name: str) -> int:
    match = re.search(
        rf"{re.escape(name)} = (\d+)", kamcmd(socket_path, "stats.get_statistics", group)
    )
    return int(match.group(1)) if match else 0


def wait_until(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}")


# usrloc in memory (db_mode 0): bindings are lost when Kamailio stops
USRLOC_MEMORY = 'modparam("usrloc", "db_mode", 0)'
# usrloc write-through (db_mode 1) to SQLite in WAL mode: every change of a binding is
# written before the reply, as Trunkline writes a phone's binding before its 200
USRLOC_SQLITE = """loadmodule "db_sqlite.so"
modparam("db_sqlite", "db_set_journal_mode", "{db}=WAL")
modparam("usrloc", "db_url", "sqlite:///{db}")
modparam("usrloc", "db_mode", 1)"""
USRLOC_SCHEMA = Path("/usr/share/kamailio/db_sqlite")


def start_registrar(work: Path, database: Path | None = None) -> tuple[Proc, Path]:
    """Kamailio as a registrar; its usrloc in memory, or written through to `database`
    (an SQLite file made here from the kamailio-sqlite-modules schema)."""
    run = work / "run"
    run.mkdir(parents=True, exist_ok=True)
    usrloc, children = USRLOC_MEMORY, 2
    if database is not None:
        database.unlink(missing_ok=True)
        with sqlite3.connect(database) as conn:
            for name in ("standard-create.sql", "usrloc-create.sql"):
                conn.executescript((USRLOC_SCHEMA / name).read_text())
        # one worker: db_sqlite sets no busy timeout, two writers fail with SQLITE_BUSY
        usrloc, children = USRLOC_SQLITE.format(db=database), 1
    config = work / "registrar.cfg"
    config.write_text(
        REGISTRAR_CFG.format(
            port=REGISTRAR_PORT, modules=MODULES, run=run, usrloc=usrloc, children=children
        )
    )
    registrar = Proc(
        "registrar",
        ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(run), "-w", str(work),
         "-P", str(run / "reg.pid"), "-m", "256", "-M", "16"],
        work,
    )  # fmt: skip
    socket_path = run / "reg_ctl"
    wait_until(socket_path.exists, 10, "the registrar")
    return registrar, socket_path


def registered_contacts(socket_path: Path) -> int:
    return stat(socket_path, "usrloc:", "usrloc:location_contacts")


# -- Trunkline --------------------------------------------------------------------------


async def fill_database(url: str, key: str, n: int) -> None:
    from trunkline.domain.lines import LineType, NewLine
    from trunkline.storage import migrate
    from trunkline.storage.secrets import Cipher
    from trunkline.storage.store import Store
    from trunkline.storage.url import DatabaseUrl

    database = DatabaseUrl(url)
    await migrate.upgrade_async(database)
    store = await Store.open(database, Cipher(key))
    try:
        for portal_number in range((n + 9) // 10):
            portal = await store.accounts.create_portal(f"p{portal_number}.bench")
            async with store.lines.line_writer(portal.id) as writer:
                for i in range(portal_number * 10 + 1, min(n, portal_number * 10 + 10) + 1):
                    await writer.insert(
                        NewLine(
                            LineType.CLOUD, "", f"127.0.0.1:{REGISTRAR_PORT}",
                            f"u{i:05d}", f"p{i:05d}", "",
                        ),
                        incoming_server=None,
                    )  # fmt: skip
    finally:
        await store.close()


def trunkline_counters(engine: Proc) -> dict:
    before = engine.log.read_text().count("\n")
    os.kill(engine.process.pid, 0)
    for pid in engine.pids():  # the Python engine only: SIGUSR1 would kill `timeout`
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"trunkline" in argv and b"timeout" not in argv[0]:
            os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = engine.log.read_text().splitlines()
        for line in reversed(lines[before:]):
            if line.startswith("{"):
                return json.loads(line)
        time.sleep(0.05)
    raise RuntimeError("the engine printed no counters")


def bench_trunkline(
    n: int, window: float, work: Path, registrar_ctl: Path, expires: int = 60
) -> dict:
    from trunkline.storage.secrets import new_key

    work.mkdir(parents=True, exist_ok=True)
    db = work / f"lines-{n}.sqlite3"
    key = new_key()
    for stale in work.glob(f"lines-{n}.sqlite3*"):
        stale.unlink()
    asyncio.run(fill_database(f"sqlite:///{db}", key, n))
    env = {
        **os.environ,
        "TRUNKLINE_DATABASE_URL": f"sqlite:///{db}",
        "TRUNKLINE_SECRET_KEY": key,
        "TRUNKLINE_SIP_PORT": "0",
        "TRUNKLINE_SIP_EXPIRES": str(expires),
        "TRUNKLINE_SIP_POLL_SECONDS": "30",
        "TRUNKLINE_LOG_LEVEL": "warning",
        "PYTHONUNBUFFERED": "1",
    }
    base_contacts = registered_contacts(registrar_ctl)
    started = time.monotonic()
    engine = Proc("trunkline", [sys.executable, "-m", "trunkline", "engine"], work, env)
    try:
        all_in = wait_until(
            lambda: registered_contacts(registrar_ctl) - base_contacts >= n, 120, "all lines"
        )
        registered_after = time.monotonic() - started
        time.sleep(10)
        memory = engine.rss_mb()
        cpu0, counters0 = engine.cpu(), trunkline_counters(engine)
        time.sleep(window)
        cpu1, counters1 = engine.cpu(), trunkline_counters(engine)
        done = counters1["client"]["registered"] - counters0["client"]["registered"]
        sent = counters1["client"]["sent"] - counters0["client"]["sent"]
        failed = counters1["client"].get("failed", 0) - counters0["client"].get("failed", 0)
    finally:
        engine.stop()
    cpu = cpu1 - cpu0
    return {
        "client": "trunkline",
        "n": n,
        "expires": expires,
        "window_s": window,
        "cpu_s": round(cpu, 3),
        "completed": done,
        "requests_sent": sent,
        "failed": failed,
        "us_per_registration": round(cpu / done * 1e6, 1) if done else None,
        "core_share_pct": round(cpu / window * 100, 2),
        "all_registered_s": round(registered_after, 2),
        "wait_all_s": round(all_in, 2),
        "pss_mb": round(memory, 1),
    }


# -- Kamailio uac ------------------------------------------------------------------------


def bench_kamailio(
    n: int, window: float, work: Path, registrar_ctl: Path, spread: int, expires: int = 60
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    run, db = work / "run", work / "db"
    shutil.rmtree(db, ignore_errors=True)
    run.mkdir(exist_ok=True)
    db.mkdir()
    (db / "version").write_text("table_name(string) table_version(int) \nuacreg:5\n")
    rows = "".join(
        f"{i}:u{i:05d}:u{i:05d}:127.0.0.1:u{i:05d}:127.0.0.1:127.0.0.1:u{i:05d}:p{i:05d}::"
        f"sip\\:127.0.0.1\\:{REGISTRAR_PORT}:{expires}:0:0::\n"
        for i in range(1, n + 1)
    )
    (db / "uacreg").write_text(UACREG_HEADER + rows)
    config = work / "uac.cfg"
    config.write_text(
        UAC_CFG.format(uac_port=UAC_PORT, modules=MODULES, run=run, db=db, spread=spread)
    )
    ctl = run / "uac_ctl"
    if ctl.exists():
        ctl.unlink()
    base_contacts = registered_contacts(registrar_ctl)
    started = time.monotonic()
    uac = Proc(
        "kamailio-uac",
        ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(run), "-w", str(work),
         "-P", str(run / "uac.pid"), "-m", "256", "-M", "16"],
        work,
    )  # fmt: skip
    try:
        wait_until(ctl.exists, 10, "the uac instance")
        all_in = wait_until(
            lambda: registered_contacts(registrar_ctl) - base_contacts >= n,
            spread + 120,
            "all uac lines",
        )
        registered_after = time.monotonic() - started
        time.sleep(10)
        memory = uac.rss_mb()
        cpu0 = uac.cpu()
        ok0 = stat(ctl, "core:", "core:rcv_replies_2xx_reg")
        sent0 = stat(ctl, "core:", "core:fwd_requests")
        time.sleep(window)
        cpu1 = uac.cpu()
        ok1 = stat(ctl, "core:", "core:rcv_replies_2xx_reg")
        sent1 = stat(ctl, "core:", "core:fwd_requests")
    finally:
        uac.stop()
    cpu, done = cpu1 - cpu0, ok1 - ok0
    return {
        "client": "kamailio-uac",
        "n": n,
        "expires": expires,
        "window_s": window,
        "cpu_s": round(cpu, 3),
        "completed": done,
        "requests_sent": sent1 - sent0,
        "failed": 0,
        "us_per_registration": round(cpu / done * 1e6, 1) if done else None,
        "core_share_pct": round(cpu / window * 100, 2),
        "all_registered_s": round(registered_after, 2),
        "wait_all_s": round(all_in, 2),
        "pss_mb": round(memory, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", default="1000,10000", help="comma-separated N values")
    parser.add_argument("--window", type=float, default=float(os.environ.get("BENCH_WINDOW", 60)))
    parser.add_argument("--spread", type=int, default=20, help="uac reg_random_delay (s)")
    parser.add_argument("--skip-kamailio", action="store_true")
    parser.add_argument(
        "--expires",
        type=int,
        default=60,
        help="Expires asked by both clients (30..3600; 3600 measures an idle client)",
    )
    args = parser.parse_args()
    for binary in ("kamailio", "kamcmd"):
        if shutil.which(binary) is None:
            print(
                f"bench/sip: {binary} is not installed (apt-get install kamailio)", file=sys.stderr
            )
            return 2
    work = HERE / ".work"
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    results = []
    for n in [int(x) for x in args.lines.split(",")]:
        registrar, ctl = start_registrar(work / f"registrar-{n}")
        try:
            results.append(
                bench_trunkline(n, args.window, work / f"trunkline-{n}", ctl, args.expires)
            )
            print(json.dumps(results[-1]), flush=True)
            if not args.skip_kamailio:
                results.append(
                    bench_kamailio(
                        n, args.window, work / f"uac-{n}", ctl, args.spread, args.expires
                    )
                )
                print(json.dumps(results[-1]), flush=True)
        finally:
            registrar.stop()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"sip-{stamp}.json").write_text(json.dumps(results, indent=2))
    print()
    print(
        "| N | client | CPU s / window | completed | µs CPU / registration"
        " | share of a core | all registered after | PSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [
            f"{r['n']:,}",
            r["client"],
            f"{r['cpu_s']} / {r['window_s']:.0f} s",
            f"{r['completed']:,}",
            "-" if r["us_per_registration"] is None else str(r["us_per_registration"]),
            f"{r['core_share_pct']} %",
            f"{r['all_registered_s']} s",
            str(r["pss_mb"]),
        ]
        print("| " + " | ".join(cells) + " |")
    by_n: dict[int, dict[str, dict]] = {}
    for r in results:
        by_n.setdefault(r["n"], {})[r["client"]] = r
    for n, pair in by_n.items():
        if len(pair) == 2 and None not in {p["us_per_registration"] for p in pair.values()}:
            ratio = (
                pair["trunkline"]["us_per_registration"]
                / pair["kamailio-uac"]["us_per_registration"]
            )
            lines_per_core = pair["trunkline"]["n"] / max(
                pair["trunkline"]["core_share_pct"] / 100, 1e-9
            )
            print(
                f"N={n:,}: Trunkline / Kamailio uac CPU per registration = {ratio:.2f}x"
                f" (goal <= 2x); lines one core could keep registered: {lines_per_core:,.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
