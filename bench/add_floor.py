#!/usr/bin/env python3
"""What a durable ``voximplant.sip.add`` costs SQLite alone, with no Python server around it.

    .venv/bin/python bench/add_floor.py bench/out/db-small.sqlite3 [--adds 20000] [--group 32]

Copies the bench database, then replays the statements one ``sip.add`` of an office line
runs in ``trunkline serve`` (``storage/driver.py`` group commit, ``storage/store.py``
``LineWriter``) in a bare ``sqlite3`` loop with the server's PRAGMAs: ``BEGIN IMMEDIATE``
once per group, then per add ``SAVEPOINT``, the portal counter ``UPDATE … RETURNING``, the
``INSERT`` of all columns into ``lines`` with its indexes, ``RELEASE``, and one ``COMMIT``
per group of ``--group`` adds (the concurrency of the wrk runs). It prints the CPU µs per
add (``time.process_time``), with and without the commit. The values are those of a real
add: an encrypted password, a random INCOMING_PASSWORD, a unique TITLE.

This is the floor under the add scenario of ``bench/run``: the server adds its HTTP stack,
the JSON body, authentication, field checks, two AES-GCM encryptions and the response.
Compare it with the add budget, which is twice the baseline's server CPU per request.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from trunkline.storage.lines import _INSERT_LINE
from trunkline.storage.secrets import Cipher
from trunkline.storage.sql import LINE_COLUMNS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path, help="a database made by bench/load.py")
    ap.add_argument("--adds", type=int, default=20_000)
    ap.add_argument("--group", type=int, default=32, help="adds per COMMIT (group commit)")
    ap.add_argument("--portals", type=int, default=50, help="portals the adds go round")
    args = ap.parse_args()
    key = Path(str(args.db) + ".key").read_text().strip()
    cipher = Cipher(key)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "floor.sqlite3"
        shutil.copy(args.db, copy)
        db = sqlite3.connect(copy, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "cache_size=-65536",
            "wal_autocheckpoint=0",
        ):
            db.execute(f"PRAGMA {pragma}")
        insert = _INSERT_LINE  # the server's own statement, so the two cannot drift apart
        counter = (
            "UPDATE portals SET last_config_id = last_config_id + 1 WHERE id = ?"
            " RETURNING last_config_id"
        )
        tag = secrets.token_hex(4)
        commit_cpu = 0.0
        started = time.process_time()
        for k in range(args.adds):
            if k % args.group == 0:
                db.execute("BEGIN IMMEDIATE")
            portal = 2 + 2 * (k % args.portals)
            db.execute("SAVEPOINT writer")
            config_id = db.execute(counter, (portal,)).fetchone()[0]
            values = {name: None for name in LINE_COLUMNS}
            values.update(
                line_id=config_id,
                config_id=config_id,
                app_id="",
                type="office",
                title=f"floor {tag} {k}",
                server="sip.example.com",
                login="user",
                password=cipher.encrypt("secret", "password"),
                incoming_server="trunkline.local",
                incoming_login=f"sip{config_id}",
                incoming_password=cipher.encrypt(secrets.token_hex(16), "incoming_password"),
                detect_line_number="N",
                line_detect_header_order="diversion;to",
                reg_id=0,
                registration_status_code=0,
                version=1,
            )
            db.execute(insert, [portal, *values.values(), time.time()])
            db.execute("RELEASE writer")
            if k % args.group == args.group - 1 or k == args.adds - 1:
                before = time.process_time()
                db.execute("COMMIT")
                commit_cpu += time.process_time() - before
        total = time.process_time() - started
        db.close()
    per_add = total / args.adds * 1e6
    commit = commit_cpu / args.adds * 1e6
    name, adds = args.db.name, args.adds
    print(f"{name}: {adds} adds, {args.group} per commit, round {args.portals} portals")
    print(f"  CPU per add, everything:      {per_add:6.1f} µs")
    print(f"  of which its share of COMMIT: {commit:6.1f} µs")
    print(f"  without COMMIT:               {per_add - commit:6.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
