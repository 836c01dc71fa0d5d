#!/usr/bin/env python3
"""The office registrar's own work per REGISTER, in-process, without sockets or sipp.

    .venv/bin/python bench/sip/inprocess.py [--users 2000] [--rounds 2] [--batch 64]
        [--cprofile] [--only refresh] [--memory [--settle 40] [--trim] [--trace 25]]

Builds a SQLite database with one portal and N users whose phones are activated (as
``registrar.py`` does), starts the engine as ``trunkline engine`` does (``engine_process``,
``build_engine``, ``Engine.start``: history, metrics and the phone book included), then
feeds its UDP endpoint's ``datagram_received`` the datagrams sipp would send, in batches of
``--batch`` phones: each phone's REGISTER without credentials (answered 401), then its
REGISTER answering the challenge (answered 200 once the binding batch is written). The
engine's answers are caught in place of ``sendto``. Round 1 binds every phone (first
REGISTERs), later rounds refresh them from the same contacts with a new Call-ID, as the
second sipp pass of ``registrar.py`` does.

Printed per round: process CPU (``time.process_time``, every thread: the SQLite writer
included) per challenge + REGISTER, with the harness's own client work (building the
datagrams, answering the digest) measured apart and subtracted. No socket, no wake-up, no
other process: the figure is the Python work the registrar does for a phone's REGISTER,
the part of ``registrar.py``'s figure that code changes move. Run it under
``valgrind --tool=callgrind`` (with ``--users 500 --rounds 2``) for instruction counts that
other load on the machine does not move.

``--memory``: the process's PSS growth (``/proc/self/smaps_rollup``) from just before the
first round, ÷ N, after each round and again ``--settle`` seconds after the last one (past
Timer J's 32 s, as ``registrar.py`` reads it 40 s later). ``--trace N`` adds the N source
lines that hold the most memory allocated since then (``tracemalloc``, one frame) at the
same points; tracing costs memory of its own, so read PSS from a run without it.
``--trim`` then runs ``gc.collect()`` and ``malloc_trim(0)`` and reads PSS once more (what
the allocators held without using it). The harness keeps no per-phone client state (sipp's
memory is not the registrar's); every round's transactions are still awaiting Timer J at
its end (``registrar.py`` at 200/s holds ~32 s of them), so compare the settled figure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import ctypes
import gc
import os
import pstats
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from registrar import fill, free_port  # noqa: E402  (bench/sip/registrar.py)

from trunkline.sip.digest import DigestClient, parse_challenges  # noqa: E402
from trunkline.sip.message import Response, parse_datagram  # noqa: E402

CLIENT = ("127.0.0.1", 5099)

REGISTER = (
    "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-{round}-{i}-{cseq};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:{login}@127.0.0.1:{port}>;tag={round}SIPpTag00{i}\r\n"
    "To: <sip:{login}@127.0.0.1:{port}>\r\n"
    "Call-ID: {round}-{i}@127.0.0.1\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Contact: <sip:{login}@127.0.0.1:5099;transport=UDP>\r\n"
    "Expires: 3600\r\n"
    "{auth}"
    "Content-Length: 0\r\n\r\n"
)


async def run(args: argparse.Namespace, work: Path) -> list[dict[str, float]]:
    from trunkline.settings import Settings
    from trunkline.storage.secrets import new_key
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import build_engine, engine_process, open_store

    db = work / "phones.sqlite3"
    key = new_key()
    await fill(f"sqlite:///{db}", key, args.users)
    environ = {
        "TRUNKLINE_DATABASE_URL": f"sqlite:///{db}",
        "TRUNKLINE_SECRET_KEY": key,
        "TRUNKLINE_SIP_HOST": "127.0.0.1",
        "TRUNKLINE_SIP_PORT": str(free_port()),
        "TRUNKLINE_LOG_LEVEL": "warning",
    }
    settings = Settings.from_env(environ)
    store = await open_store(settings)
    engine_process(store)
    engine = build_engine(settings, DatabaseUrl(settings.database_url), store)
    await engine.start()
    registrar = engine.registrar
    endpoint = registrar._udp[0]
    port = endpoint.local[1]
    answers: list[bytes] = []
    want = [0]
    done = asyncio.Event()

    def send(data: bytes, addr: tuple[str, int]) -> None:
        answers.append(data)
        if len(answers) >= want[0]:
            done.set()

    endpoint.send = send  # type: ignore[method-assign]
    results: list[dict[str, float]] = []
    profile = cProfile.Profile() if args.cprofile else None
    memory = Memory(args) if args.memory else None
    try:
        for round_no in range(1, args.rounds + 1):
            client_cpu = 0.0
            started = time.process_time()
            if profile is not None and (args.only != "refresh" or round_no > 1):
                profile.enable()
            for first in range(1, args.users + 1, args.batch):
                batch = range(first, min(first + args.batch, args.users + 1))
                c0 = time.process_time()
                plain = [
                    REGISTER.format(
                        port=port, round=round_no, i=i, cseq=1, login=f"phone{i}", auth=""
                    ).encode()
                    for i in batch
                ]
                client_cpu += time.process_time() - c0
                answers.clear()
                want[0] = 1 << 30
                for data in plain:
                    endpoint.datagram_received(data, CLIENT)
                registrar._after_read()
                c0 = time.process_time()
                signed = []
                for i, data in zip(batch, list(answers), strict=True):
                    challenge = parse_datagram(data)
                    assert isinstance(challenge, Response) and challenge.status_code == 401
                    (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
                    client = DigestClient(f"phone{i}", f"p{i:05d}")  # none kept: sipp's memory
                    header = client.authorize(offer, "REGISTER", f"sip:127.0.0.1:{port}")
                    signed.append(
                        REGISTER.format(
                            port=port,
                            round=round_no,
                            i=i,
                            cseq=2,
                            login=f"phone{i}",
                            auth=f"Authorization: {header}\r\n",
                        ).encode()
                    )
                client_cpu += time.process_time() - c0
                answers.clear()
                want[0] = len(signed)
                done.clear()
                for data in signed:
                    endpoint.datagram_received(data, CLIENT)
                registrar._after_read()
                try:
                    await asyncio.wait_for(done.wait(), 30)
                except TimeoutError:
                    raise SystemExit(f"only {len(answers)} of {len(signed)} answered") from None
                c0 = time.process_time()
                bad = [a[:40] for a in answers if not a.startswith(b"SIP/2.0 200")]
                client_cpu += time.process_time() - c0
                if bad:
                    raise SystemExit(f"not 200: {bad[:3]}")
            if profile is not None:
                profile.disable()
            total = time.process_time() - started
            server = total - client_cpu
            results.append(
                {
                    "round": round_no,
                    "kind": "first" if round_no == 1 else "refresh",
                    "us_per_register": round(server / args.users * 1e6, 1),
                    "client_us": round(client_cpu / args.users * 1e6, 1),
                }
            )
            if memory is not None:
                results[-1].update(memory.read(f"after round {round_no}"))
        if memory is not None:
            await asyncio.sleep(args.settle)
            results.append({"settled_s": args.settle, **memory.read(f"{args.settle:g} s later")})
            if args.trim:  # what the allocators hold without using it
                gc.collect()
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                results.append({"trimmed": 1, **memory.read("after gc.collect + malloc_trim")})
    finally:
        await engine.stop()
        await store.close()
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    return results


def pss_bytes() -> int:
    text = Path("/proc/self/smaps_rollup").read_text()
    return int(text.split("\nPss:", 1)[1].split()[0]) * 1024


class Memory:
    """PSS growth per phone since it was made; with ``--trace``, tracemalloc's top lines."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.users = args.users
        self.top = args.trace
        gc.collect()
        if self.top:
            tracemalloc.start(1)
            self.base = tracemalloc.take_snapshot()
        self.pss0 = pss_bytes()

    def read(self, label: str) -> dict[str, float]:
        grown = pss_bytes() - self.pss0
        if self.top:
            snapshot = tracemalloc.take_snapshot()
            stats = snapshot.compare_to(self.base, "lineno")
            traced = sum(s.size_diff for s in stats)
            print(f"-- tracemalloc {label}: {traced / self.users:.0f} B a phone traced", flush=True)
            for stat in stats[: self.top]:
                frame = stat.traceback[0]
                print(
                    f"{stat.size_diff / self.users:8.1f} B/phone {stat.count_diff:+8d} blocks"
                    f"  {frame.filename}:{frame.lineno}",
                    flush=True,
                )
        return {"pss_bytes_per_phone": round(grown / self.users)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--only", choices=["all", "refresh"], default="all")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--memory", action="store_true", help="PSS growth per phone")
    parser.add_argument("--settle", type=float, default=40.0, help="with --memory")
    parser.add_argument("--trim", action="store_true", help="with --memory: then trim, read")
    parser.add_argument("--trace", type=int, default=0, help="with --memory: tracemalloc top N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trunkline-inproc-") as tmp:
        for row in asyncio.run(run(args, Path(tmp))):
            print(row, flush=True)
    os.environ.pop("TRUNKLINE_DATABASE_URL", None)


if __name__ == "__main__":
    main()
