#!/usr/bin/env python3
"""Copy a database made by bench/load.py (SQLite) into a PostgreSQL schema, for
``bench/run --database postgresql``.

    .venv/bin/python bench/pg_copy.py bench/out/db-big.sqlite3 \
        "postgresql://postgres@127.0.0.1:5432/test?schema=bench_big"

The schema is dropped and migrated afresh, every table is copied with COPY (booleans and
other types converted from the schema's declarations), the id sequences are moved past the
copied ids and the tables analysed. The passwords stay encrypted with the SQLite file's key
(``<db>.key``): the server is started with ``TRUNKLINE_KEY_FILE`` pointing at it.
Prints one JSON line: rows per table and seconds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from trunkline.storage import migrate
from trunkline.storage.schema import metadata
from trunkline.storage.url import DatabaseUrl

BATCH = 50_000


def _converters(table: sa.Table) -> list[object]:
    out: list[object] = []
    for column in table.columns:
        if isinstance(column.type, sa.Boolean):
            out.append(lambda v: None if v is None else bool(v))
        elif isinstance(column.type, sa.Float):
            out.append(lambda v: None if v is None else float(v))
        elif isinstance(column.type, sa.Integer):
            out.append(lambda v: None if v is None else int(v))
        else:
            out.append(lambda v: v)
    return out


async def copy(source: Path, url: DatabaseUrl) -> dict[str, object]:
    t0 = time.perf_counter()
    schema = url.postgres_schema
    assert schema, "give the target a ?schema="
    conn = await asyncpg.connect(url.asyncpg_dsn)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()
    await migrate.upgrade_async(url)
    lite = sqlite3.connect(source)
    conn = await asyncpg.connect(url.asyncpg_dsn, server_settings=url.server_settings)
    rows: dict[str, int] = {}
    try:
        # No trigger fires while copying: the caches' change counters (storage/mark_schema.py)
        # would queue one deferred event per row. The schema is new; nothing has cached it.
        await conn.execute("SET session_replication_role = replica")
        for table in metadata.sorted_tables:
            names = [c.name for c in table.columns]
            present = {r[1] for r in lite.execute(f"PRAGMA table_info({table.name})")}
            if not present:
                continue
            names = [n for n in names if n in present]
            convert = [
                f
                for f, c in zip(_converters(table), table.columns, strict=True)
                if c.name in present
            ]
            cursor = lite.execute(f"SELECT {', '.join(names)} FROM {table.name}")
            count = 0
            while batch := cursor.fetchmany(BATCH):
                records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in batch]  # type: ignore[operator]
                await conn.copy_records_to_table(table.name, records=records, columns=names)
                count += len(records)
            rows[table.name] = count
            if "id" in names and isinstance(table.c.id.type, sa.Integer):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                    f" coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                    f" WHERE pg_get_serial_sequence('{table.name}', 'id') IS NOT NULL"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
        lite.close()
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    source, target = Path(sys.argv[1]), DatabaseUrl(sys.argv[2])
    print(json.dumps(asyncio.run(copy(source, target))))


if __name__ == "__main__":
    main()
