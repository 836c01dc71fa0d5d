#!/usr/bin/env python3
"""Where a request's time goes inside Trunkline, without HTTP, wrk or the kernel.

    .venv/bin/python bench/profile_path.py bench/out/db-big.sqlite3 [--calls 3000] [--cprofile]

Loads the application the way a uvicorn worker does (``trunkline.web.app.TrunklineApp``
and its lifespan start-up) on a database made by ``bench/load.py``, then calls
the ASGI application directly with the same requests the wrk scenarios send,
timing CPU with ``time.process_time`` (one thread, so other load on the machine
barely matters). It prints:

* the application's CPU per request for each scenario (page, one, add), next to
  the bare Starlette handler of the baseline called the same way; the HTTP
  server's own cost (uvicorn + httptools + the socket) comes on top of both;
* a breakdown of the 50-row page and the single-line get into the project's
  stages (authentication, count query, page query, row decoding with
  decryption, ``line_item``, the ``time`` block, ``encode_json``), each timed
  on its own by calling the project's functions;
* with ``--sql``, the time of each SQL statement per scenario (execute plus
  fetch, through a thin wrapper around the driver's ``sqlite3`` connection);
* with ``--cprofile``, the top functions by own time for each scenario.

The add scenario writes lines into the "add" portals (even ids) as the wrk run
does; the get portals (odd ids) are not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
# The REST path only: no SIP engine in the application (Settings.from_env reads this).
os.environ["TRUNKLINE_SIP_ENGINE"] = "off"

from trunkline.domain.principal import Credentials  # noqa: E402
from trunkline.domain.query import PAGE_SIZE  # noqa: E402
from trunkline.methods.sip_filter import parse_filter  # noqa: E402
from trunkline.methods.voximplant_sip import line_item  # noqa: E402
from trunkline.rest.dispatch import envelope  # noqa: E402
from trunkline.rest.registry import Result  # noqa: E402
from trunkline.rest.responses import encode_json, time_block  # noqa: E402
from trunkline.settings import Settings  # noqa: E402
from trunkline.storage.sql import SELECT_LINES, order_clause, where_clause  # noqa: E402
from trunkline.web.app import TrunklineApp  # noqa: E402


def page_sql(query, dialect):
    """All columns of a 50-row page in one query (the read the row cache avoids)."""
    where, params = where_clause(query, dialect)
    sql = SELECT_LINES + where + order_clause(query.sort, query.descending, dialect)
    return sql + " LIMIT ? OFFSET ?", [*params, query.limit, query.offset]


def count_sql(query, dialect):
    where, params = where_clause(query, dialect)
    return "SELECT COUNT(*) FROM lines" + where, params


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


class Sink:
    def __init__(self) -> None:
        self.status = 0
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")


async def call(app: Any, path: str, body: bytes) -> Sink:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    sink = Sink()
    await app(scope_for(path), receive, sink)
    return sink


def apply_pragmas(app: Any, pragmas: list[str]) -> None:
    """What-if experiments: extra PRAGMAs on the worker's SQLite connection."""
    for pragma in pragmas:
        app.store.driver._db.execute(f"PRAGMA {pragma}")
        print(f"(what-if: PRAGMA {pragma})")


def hook(portal: int) -> str:
    return f"/rest/1/bench{portal:011d}/"


async def timed(label: str, n: int, fn: Any, results: dict[str, float]) -> None:
    for _ in range(min(200, n)):  # warm
        await fn()
    t0 = time.process_time()
    for _ in range(n):
        await fn()
    us = (time.process_time() - t0) / n * 1e6
    results[label] = us


async def main_async(args: argparse.Namespace) -> None:
    db = Path(args.db).resolve()
    manifest = json.loads(Path(str(db) + ".json").read_text())
    portals, lines = manifest["portals"], manifest["lines_per_portal"]
    settings = Settings.from_env(database_url=f"sqlite:///{db}")
    app = TrunklineApp(settings)
    await app.startup()
    assert app.store is not None and app.rest is not None
    apply_pragmas(app, args.pragma)
    n = args.calls
    count = min(1000, portals // 2)
    step = 2 * max(1, (portals // 2) // count)
    get_portals = [1 + k * step for k in range(count)]
    add_portals = [2 + k * step for k in range(count)]
    state = {"i": 0}

    def nxt() -> int:
        state["i"] += 1
        return state["i"]

    async def page() -> None:
        p = get_portals[nxt() % count]
        r = await call(app, hook(p) + "voximplant.sip.get", b"{}")
        assert r.status == 200, r.body[:300]

    async def one() -> None:
        i = nxt()
        p = get_portals[i % count]
        body = b'{"FILTER":{"CONFIG_ID":%d}}' % ((i * 37) % lines + 1)
        r = await call(app, hook(p) + "voximplant.sip.get", body)
        assert r.status == 200, r.body[:300]

    tag = f"prof{int(time.time())}"

    async def add() -> None:
        i = nxt()
        p = add_portals[i % count]
        body = (
            b'{"TYPE":"office","TITLE":"bench %s %d","SERVER":"pbx.example.com",'
            b'"LOGIN":"user%d","PASSWORD":"secret%d"}' % (tag.encode(), i, i, i)
        )
        r = await call(app, hook(p) + "voximplant.sip.add", body)
        assert r.status == 200, r.body[:300]

    import baseline_app

    async def baseline() -> None:
        r = await call(
            baseline_app.app,
            "/rest/1/abc/voximplant.sip.get",
            b'{"auth":"2b7e3f9a8c1d4e5f6a7b8c9d0e1f2a3b","FILTER":{"TYPE":"cloud"},"start":0}',
        )
        assert r.status == 200

    whole: dict[str, float] = {}
    for label, fn in (
        ("baseline (Starlette handler)", baseline),
        ("page", page),
        ("one", one),
        ("add", add),
    ):
        await timed(label, n, fn, whole)

    # Stage breakdown of the page and single-line get, on one get portal.
    store = app.store
    services = app.services
    assert services is not None
    authenticate = app.rest.dispatcher.authenticate
    p = get_portals[len(get_portals) // 2]
    creds = Credentials(aplogin="1", ap=f"bench{p:011d}", host="127.0.0.1")
    principal = await authenticate(creds)
    q_page = services.lines.query(principal, conditions=[], offset=0, limit=PAGE_SIZE)
    q_one = services.lines.query(
        principal, conditions=parse_filter({"CONFIG_ID": lines // 2}), offset=0, limit=PAGE_SIZE
    )
    page_rows = await store.driver.fetch_all(*page_sql(q_page, "sqlite"))
    page_lines = [store.lines._line(r) for r in page_rows]
    items = [line_item(x) for x in page_lines]
    now = time.time()
    payload = envelope(
        Result(items, total=lines, next=50),
        time_block(
            start=now,
            finish=now,
            method_start=now,
            method_end=now,
            timezone=principal.portal.timezone,
        ),
    )
    cipher = store.cipher
    sealed = page_rows[-1][8]
    stages: dict[str, float] = {}

    async def s_auth() -> None:
        await authenticate(creds)

    async def s_count() -> None:
        await store.driver.fetch_one(*count_sql(q_page, "sqlite"))

    async def s_list_api() -> None:
        await store.lines.list_lines(q_page)

    async def s_page_sql() -> None:
        await store.driver.fetch_all(*page_sql(q_page, "sqlite"))

    async def s_decode() -> None:
        [store.lines._line(r) for r in page_rows]

    async def s_decrypt() -> None:
        for _ in range(2 * PAGE_SIZE):
            cipher.decrypt(sealed, "password")

    async def s_items() -> None:
        [line_item(x) for x in page_lines]

    async def s_time() -> None:
        t = time.time()
        time_block(
            start=t, finish=t, method_start=t, method_end=t, timezone=principal.portal.timezone
        )

    async def s_encode() -> None:
        encode_json(payload)

    async def s_one_list() -> None:
        await store.lines.list_lines(q_one)

    for label, fn in (
        ("auth: webhook, user and portal (one query) + Host check", s_auth),
        ("count: SELECT COUNT(*) (SQL only)", s_count),
        ("page: Store.list_lines (keys + COUNT, cached rows)", s_list_api),
        ("page: SELECT 50 rows (SQL only)", s_page_sql),
        ("page: Store._line x 50 (decode + 100 decrypts)", s_decode),
        ("  of which Cipher.decrypt x 100", s_decrypt),
        ("page: line_item x 50", s_items),
        ("time_block (2 x iso_date)", s_time),
        ("page: encode_json of the 50-row envelope", s_encode),
        ("one: Store.list_lines with FILTER (1 row)", s_one_list),
    ):
        await timed(label, n, fn, stages)

    print(
        f"# In-process CPU per request ({db.name}: {manifest['lines']:,} lines, "
        f"{portals:,} portals; {n} calls each, time.process_time)\n"
    )
    print("| path | µs/request |\n|---|---|")
    for label, us in whole.items():
        print(f"| {label} | {us:.0f} |")
    print("\n| stage (called on its own) | µs |\n|---|---|")
    for label, us in stages.items():
        print(f"| {label} | {us:.1f} |")
    print(f"\n(page response {len(encode_json(payload)):,} bytes)")

    await app.shutdown()


class _Fetched:
    """A cursor whose rows were fetched already (so the wrapper times the fetch too)."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None


class TimedConnection:
    """Wraps the driver's sqlite3 cursor (every statement runs on it): time per statement
    (execute + fetch)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.stats: dict[str, list[float]] = {}

    def execute(self, sql: str, params: Any = ()) -> _Fetched:
        t0 = time.perf_counter()
        cur = self._db.execute(sql, params)
        rows = cur.fetchall()
        dt = time.perf_counter() - t0
        key = " ".join(sql.split())
        if key.startswith("SELECT portal_id, line_id"):
            key = "SELECT <21 line columns> FROM lines" + key.split("FROM lines", 1)[1]
        if key.startswith("INSERT INTO lines"):
            key = "INSERT INTO lines (<21 columns>) VALUES (...)"
        entry = self.stats.setdefault(key[:110], [0, 0.0])
        entry[0] += 1
        entry[1] += dt
        return _Fetched(rows, cur.rowcount)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def sql_breakdown(args: argparse.Namespace) -> None:
    db = Path(args.db).resolve()
    manifest = json.loads(Path(str(db) + ".json").read_text())
    portals, lines = manifest["portals"], manifest["lines_per_portal"]
    app = TrunklineApp(Settings.from_env(database_url=f"sqlite:///{db}"))
    await app.startup()
    assert app.store is not None
    apply_pragmas(app, args.pragma)
    driver: Any = app.store.driver
    count = min(1000, portals // 2)
    step = 2 * max(1, (portals // 2) // count)
    n = args.calls
    tag = f"sql{int(time.time())}"
    scenarios = {
        "page": lambda i: (hook(1 + (i % count) * step) + "voximplant.sip.get", b"{}"),
        "one": lambda i: (
            hook(1 + (i % count) * step) + "voximplant.sip.get",
            b'{"FILTER":{"CONFIG_ID":%d}}' % ((i * 37) % lines + 1),
        ),
        "add": lambda i: (
            hook(2 + (i % count) * step) + "voximplant.sip.add",
            b'{"TYPE":"office","TITLE":"bench %s %d","SERVER":"pbx.example.com",'
            b'"LOGIN":"user%d","PASSWORD":"secret%d"}' % (tag.encode(), i, i, i),
        ),
    }
    for label, make in scenarios.items():
        timed_db = TimedConnection(driver._cursor)
        driver._cursor = timed_db
        t0 = time.process_time()
        for i in range(n):
            path, body = make(i)
            r = await call(app, path, body)
            assert r.status == 200, r.body[:200]
        total = (time.process_time() - t0) / n * 1e6
        driver._cursor = timed_db._db
        in_sql = sum(v[1] for v in timed_db.stats.values()) / n * 1e6
        print(
            f"\n### SQL per request: {label} ({n} calls; whole request {total:.0f} µs CPU, "
            f"of which SQL {in_sql:.0f} µs wall)\n"
        )
        print("| statement | per request | µs each |\n|---|---|---|")
        for key, (calls, secs) in sorted(timed_db.stats.items(), key=lambda kv: -kv[1][1]):
            print(f"| `{key}` | {calls / n:.1f} | {secs / calls * 1e6:.1f} |")
    await app.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="a database made by bench/load.py (its .json manifest beside it)")
    ap.add_argument("--calls", type=int, default=3000, help="calls per measurement")
    ap.add_argument("--cprofile", action="store_true", help="also print cProfile top functions")
    ap.add_argument("--sql", action="store_true", help="also time each SQL statement")
    ap.add_argument(
        "--pragma",
        action="append",
        default=[],
        help="what-if: run PRAGMA X on the server's connection first, e.g. "
        "--pragma mmap_size=1073741824 (repeatable)",
    )
    args = ap.parse_args()
    asyncio.run(main_async(args))
    if args.sql:
        asyncio.run(sql_breakdown(args))
    if args.cprofile:
        asyncio.run(cprofile_all(args))


async def cprofile_all(args: argparse.Namespace) -> None:
    """cProfile each scenario (a second app instance, same database)."""
    db = Path(args.db).resolve()
    manifest = json.loads(Path(str(db) + ".json").read_text())
    portals, lines = manifest["portals"], manifest["lines_per_portal"]
    app = TrunklineApp(Settings.from_env(database_url=f"sqlite:///{db}"))
    await app.startup()
    apply_pragmas(app, args.pragma)
    count = min(1000, portals // 2)
    step = 2 * max(1, (portals // 2) // count)
    n = args.calls
    tag = f"cprof{int(time.time())}"
    scenarios = {
        "page": lambda i: (hook(1 + (i % count) * step) + "voximplant.sip.get", b"{}"),
        "one": lambda i: (
            hook(1 + (i % count) * step) + "voximplant.sip.get",
            b'{"FILTER":{"CONFIG_ID":%d}}' % ((i * 37) % lines + 1),
        ),
        "add": lambda i: (
            hook(2 + (i % count) * step) + "voximplant.sip.add",
            b'{"TYPE":"office","TITLE":"bench %s %d","SERVER":"pbx.example.com",'
            b'"LOGIN":"user%d","PASSWORD":"secret%d"}' % (tag.encode(), i, i, i),
        ),
    }
    for label, make in scenarios.items():
        prof = cProfile.Profile()
        prof.enable()
        for i in range(n):
            path, body = make(i)
            r = await call(app, path, body)
            assert r.status == 200, r.body[:200]
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
        text = out.getvalue()
        print(f"\n### cProfile: {label} ({n} calls; times include cProfile's overhead)\n")
        print(text[text.find("   ncalls") :])
    await app.shutdown()


if __name__ == "__main__":
    main()
