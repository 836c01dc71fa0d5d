#!/usr/bin/env python3
"""Fast direct bulk loader for the benchmark databases (SQLite).

    .venv/bin/python bench/load.py --db bench/out/db-1m.sqlite3 --portals 10000 --lines 100

What it writes, with the project's own code doing every part that matters:

* the schema, by ``trunkline.storage.migrate.upgrade`` (Alembic, as ``trunkline
  serve`` would), so the server finds the database at head and does not touch it;
* the encryption key beside the database (``trunkline.web.bootstrap.key_path``, the file
  the server reads) and every PASSWORD / INCOMING_PASSWORD sealed with
  ``trunkline.storage.secrets.Cipher.encrypt(text, column)``;
* column lists taken from ``trunkline.storage.schema`` (a column added there
  without a value here fails loudly instead of loading a half-filled table);
* webhook codes hashed with ``trunkline.auth.webhooks.hash_code``.

Per portal ``p`` (ids 1..N): administrator user 1 (``admin``), a telephony
webhook whose code is ``bench`` + ``p`` as 11 digits (``bench00000000042``),
and ``--lines`` lines with CONFIG_ID 1..L: ``(7p mod 11)`` cloud lines (0..10,
at most ten as the API enforces), the rest office lines, each shaped as
``LineWriter.insert`` would store it (office: INCOMING_LOGIN ``sip<CONFIG_ID>``,
random 32-hex INCOMING_PASSWORD, status 0; cloud: REG_ID from the portal's
counter). Cloud SERVERs are ``127.0.0.1:<port>``: should a SIP engine ever try
to register them (the bench runs the server with it off), nothing leaves the
machine. The portal counters ``last_config_id``/``last_reg_id`` are set to the
last values handed out, so ``voximplant.sip.add`` on the loaded database
continues the numbering. Portal 1 also gets the webhook ``trunkline serve``
derives from the key (``trunkline.web.bootstrap.seed_code``), so the server prints its
"webhook URL" line on start, as on a seeded database.

Everything goes in with ``executemany`` inside one transaction (journal off,
synchronous off while loading: a crash means "load again"), then the database
is switched to WAL, which the server uses. At the end the result is read back
through ``trunkline.storage.store.Store`` (count, page, one line, decryption)
and a JSON manifest is written next to the database (``<db>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import sys
import time
from pathlib import Path

from trunkline.auth.webhooks import hash_code
from trunkline.domain.lines import MAX_CLOUD_LINES
from trunkline.domain.query import PAGE_SIZE, LineQuery
from trunkline.settings import Settings
from trunkline.storage import migrate, schema
from trunkline.storage.secrets import Cipher, load_or_create_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.web.bootstrap import SEED_SCOPES, key_path, seed_code

CODE_PREFIX = "bench"
# Bumped whenever what the loader writes changes; bench.py --reuse-db reloads on a mismatch.
LOADER_VERSION = 2
TIMEZONES = ("UTC", "Europe/Berlin", "Europe/Moscow", "America/New_York")
# Loopback only, and no name to resolve: if a SIP engine ever registered these lines
# (the bench turns it off), nothing would leave the machine.
CLOUD_SERVERS = tuple(f"127.0.0.1:{port}" for port in range(15061, 15066))


def webhook_code(portal_id: int) -> str:
    """The webhook code of portal ``portal_id`` (16 of [a-z0-9], like real codes)."""
    return f"{CODE_PREFIX}{portal_id:011d}"


def cloud_count(portal_id: int, lines: int) -> int:
    return min((7 * portal_id) % (MAX_CLOUD_LINES + 1), MAX_CLOUD_LINES, lines)


def _columns(table: object, given: list[str]) -> list[str]:
    """``given`` checked against the schema: every NOT NULL column without a default
    must be among them, and none of them may be unknown."""
    names = {c.name for c in table.columns}  # type: ignore[attr-defined]
    unknown = [n for n in given if n not in names]
    missing = [
        c.name
        for c in table.columns  # type: ignore[attr-defined]
        if not c.nullable
        and c.server_default is None
        and not (c.primary_key and c.autoincrement is True)
        and c.name not in given
    ]
    if unknown or missing:
        raise SystemExit(f"schema drift in {table}: unknown {unknown}, missing {missing}")
    return given


LINE_COLS = [
    "portal_id",
    "line_id",
    "config_id",
    "app_id",
    "type",
    "title",
    "server",
    "login",
    "password",
    "incoming_server",
    "incoming_login",
    "incoming_password",
    "auth_user",
    "outbound_proxy",
    "detect_line_number",
    "line_detect_header_order",
    "reg_id",
    "registration_status_code",
    "registration_error_message",
    "registration_updated_at",
    "created_at",
]


# Newer schemas keep the engine's STATUS_RESULT beside the status code.
HAS_RESULT = "registration_result" in {c.name for c in schema.lines.columns}
if HAS_RESULT:
    LINE_COLS.append("registration_result")
RESULTS = {200: "success", 401: "error", None: None}


def _insert(table: str, cols: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def portal_lines(portal_id: int, domain: str, lines: int, cipher: Cipher, now: float):
    """The rows of one portal's lines and the portal's final (last_config_id, last_reg_id)."""
    enc = cipher.encrypt
    clouds = cloud_count(portal_id, lines)
    reg_id = 150000  # the schema's server default for last_reg_id
    incoming_server = f"ip.{domain}.trunkline.local"
    rows = []
    for cfg in range(1, lines + 1):
        title = "" if cfg % 10 == 0 else f"Line {cfg}"
        if cfg <= clouds:
            reg_id += 1
            status = (200, 200, 200, None, 401)[cfg % 5]
            rows.append(
                (
                    portal_id,
                    cfg,
                    cfg,
                    "",
                    "cloud",
                    title or None,
                    CLOUD_SERVERS[cfg % len(CLOUD_SERVERS)],
                    f"{portal_id}{cfg:04d}",
                    enc(f"cl{portal_id}p{cfg}", "password"),
                    None,
                    None,
                    None,
                    f"{portal_id}{cfg:04d}" if cfg % 2 else None,
                    None,
                    "Y" if cfg % 3 == 0 else "N",
                    "diversion;to",
                    reg_id,
                    status,
                    "Unauthorized" if status == 401 else None,
                    now if status is not None else None,
                    now,
                )
                + ((RESULTS[status],) if HAS_RESULT else ())
            )
        else:
            rows.append(
                (
                    portal_id,
                    cfg,
                    cfg,
                    "",
                    "office",
                    title,
                    f"pbx{cfg % 7}.office{portal_id}.local",
                    f"ext{cfg}",
                    enc(f"of{portal_id}p{cfg}", "password"),
                    incoming_server,
                    f"sip{cfg}",
                    enc(secrets.token_hex(16), "incoming_password"),
                    None,
                    None,
                    "N",
                    "diversion;to",
                    0,
                    0,
                    None,
                    None,
                    now,
                )
                + ((None,) if HAS_RESULT else ())
            )
    return rows, lines, reg_id


def load(db: Path, portals: int, lines: int, *, quiet: bool = False) -> dict:
    t0 = time.perf_counter()
    db = db.resolve()
    for suffix in ("", "-wal", "-shm", "-journal", ".key", ".json"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url_text = f"sqlite:///{db}"
    url = DatabaseUrl(url_text)
    settings = Settings(database_url=url_text)
    migrate.upgrade(url)
    t_migrate = time.perf_counter()
    key = load_or_create_key(key_path(settings, url))
    cipher = Cipher(key)
    seed = seed_code(settings, url)
    now = time.time()

    _columns(schema.lines, LINE_COLS)
    portal_cols = _columns(
        schema.portals,
        [
            "id",
            "domain",
            "member_id",
            "title",
            "timezone",
            "last_config_id",
            "last_reg_id",
            "created_at",
        ],
    )
    user_cols = _columns(
        schema.users,
        [
            "portal_id",
            "user_id",
            "login",
            "name",
            "last_name",
            "is_admin",
            "line_modify",
            "active",
            "created_at",
        ],
    )
    hook_cols = _columns(
        schema.webhooks,
        [
            "portal_id",
            "user_id",
            "code_hash",
            "title",
            "scopes",
            "active",
            "expires_at",
            "created_at",
        ],
    )

    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1048576")  # 1 GiB: the whole file stays in memory
    con.execute("PRAGMA temp_store=MEMORY")
    con.execute("BEGIN")
    portal_rows, user_rows, hook_rows = [], [], []
    line_sql = _insert("lines", LINE_COLS)
    batch: list[tuple] = []
    t_lines = 0.0
    for pid in range(1, portals + 1):
        domain = f"p{pid:05d}.bench.bitrix24.test"
        rows, last_config, last_reg = portal_lines(pid, domain, lines, cipher, now)
        batch.extend(rows)
        portal_rows.append(
            (
                pid,
                domain,
                secrets.token_hex(16),
                f"Bench portal {pid}",
                TIMEZONES[pid % len(TIMEZONES)],
                last_config,
                last_reg,
                now,
            )
        )
        user_rows.append((pid, 1, "admin", "Admin", f"Portal{pid}", True, False, True, now))
        hook_rows.append(
            (
                pid,
                1,
                hash_code(webhook_code(pid)),
                "bench",
                ",".join(SEED_SCOPES),
                True,
                None,
                now,
            )
        )
        if pid == 1:
            hook_rows.append(
                (1, 1, hash_code(seed), "Quick start", ",".join(SEED_SCOPES), True, None, now)
            )
        if len(batch) >= 50_000 or pid == portals:
            # Portals first: the lines reference them (foreign keys are off here,
            # but keep the order the server's own writes would have).
            con.executemany(_insert("portals", portal_cols), portal_rows)
            con.executemany(_insert("users", user_cols), user_rows)
            con.executemany(_insert("webhooks", hook_cols), hook_rows)
            ts = time.perf_counter()
            con.executemany(line_sql, batch)
            t_lines += time.perf_counter() - ts
            portal_rows, user_rows, hook_rows, batch = [], [], [], []
            if not quiet:
                print(f"  load: {pid}/{portals} portals", file=sys.stderr, end="\r", flush=True)
    con.execute("COMMIT")
    t_commit = time.perf_counter()
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    t_end = time.perf_counter()
    if not quiet:
        print(file=sys.stderr)

    check = asyncio.run(_verify(url, cipher, portals, lines))
    manifest = {
        "db": str(db),
        "database_url": url_text,
        "loader_version": LOADER_VERSION,
        "portals": portals,
        "lines_per_portal": lines,
        "lines": portals * lines,
        "cloud_lines": sum(cloud_count(p, lines) for p in range(1, portals + 1)),
        "code_pattern": f"{CODE_PREFIX}{{portal_id:011d}}",
        "seed_code_portal": 1,
        "seconds": {
            "migrate": round(t_migrate - t0, 2),
            "insert_lines": round(t_lines, 2),
            "total_to_commit": round(t_commit - t0, 2),
            "total": round(t_end - t0, 2),
        },
        "size_mb": round(db.stat().st_size / 2**20, 1),
        "check": check,
    }
    Path(str(db) + ".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


async def _verify(url: DatabaseUrl, cipher: Cipher, portals: int, lines: int) -> dict:
    """Read the load back through the project's Store (and so its SQL and decryption)."""
    store = await Store.open(url, cipher)
    try:
        pid = portals // 2 + 1
        query = LineQuery(portal_id=pid, app_id=None, limit=PAGE_SIZE)
        total, page = await store.lines.list_lines(query)
        one = await store.lines.get_line(pid, None, lines)
        hook = await store.accounts.webhook_by_hash(hash_code(webhook_code(pid)))
        row = await store.driver.fetch_one(
            "SELECT last_config_id, last_reg_id FROM portals WHERE id = ?", (pid,)
        )
        counts = await store.driver.fetch_one("SELECT COUNT(*) FROM lines")
        assert counts is not None and counts[0] == portals * lines, counts
        assert total == lines and len(page) == min(lines, PAGE_SIZE), (total, len(page))
        assert one is not None and one.config_id == lines and one.password, one
        assert hook is not None and hook.portal_id == pid, hook
        assert row is not None and row[0] == lines, row
        return {
            "portal": pid,
            "total": total,
            "page": len(page),
            "last_config_id": row[0],
            "last_reg_id": row[1],
            "decrypted_password_len": len(one.password or ""),
        }
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, type=Path, help="SQLite file to (re)create")
    ap.add_argument("--portals", type=int, default=10_000)
    ap.add_argument("--lines", type=int, default=100, help="lines per portal")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    if args.lines < 1 or args.portals < 1:
        raise SystemExit("--portals and --lines must be positive")
    manifest = load(args.db, args.portals, args.lines, quiet=args.quiet)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
