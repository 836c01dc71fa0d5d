"""The caches' change counters on PostgreSQL (storage/mark_schema.py): every table a cached
query reads carries the trigger of its group, on a fresh and on a migrated schema, and a
write moves exactly its group's counter.

A new cache (a method that reads ``shared_change_mark`` or ``shared_data_mark``) fails
``test_every_cache_is_listed`` until its queries are added to ``CACHED_QUERIES`` below; its
tables then fail ``test_cached_queries_read_only_watched_tables`` until mark_schema.py and
a migration watch them.
"""

from __future__ import annotations

import ast
import asyncio
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import POSTGRES_URL, require_postgres
from trunkline.storage import (
    accounts,
    call_rows,
    events,
    migrate,
    registrations,
    sql,
    telephony,
)
from trunkline.storage.changes import GROUPS
from trunkline.storage.mark_schema import CACHED_TABLES, SLOTS, WATCHED_COLUMNS
from trunkline.storage.postgres import PostgresDriver
from trunkline.storage.url import DatabaseUrl

SOURCE = Path(accounts.__file__).parent.parent  # src/trunkline

# (module, method) of every cache: its group and the queries whose answers it keeps.
CACHED_QUERIES: dict[tuple[str, str], tuple[str | tuple[str, ...], list[str]]] = {
    ("storage/accounts.py", "webhook_with_owner"): ("accounts", [accounts._WEBHOOK_OWNER_SQL]),
    ("storage/accounts.py", "_kept_user"): ("accounts", [accounts._USERS]),
    ("storage/accounts.py", "_inner_numbers"): ("accounts", [accounts._INNER_NUMBERS_SQL]),
    ("storage/events.py", "fan_out"): ("accounts", [events.BOUND_SQL]),
    ("storage/lines.py", "list_lines"): (
        "lines",
        ["SELECT id, version FROM lines", sql.SELECT_LINES_WITH_ID, "SELECT COUNT(*) FROM lines"],
    ),
    ("engine/phones.py", "_check"): (
        ("accounts", "phones"),
        [
            telephony.PHONE_ACCOUNTS_SQL,
            telephony.PHONE_BOOK_SQL,
            f"SELECT {registrations.BINDING_COLUMNS} FROM phone_bindings",
        ],
    ),
    ("storage/calls.py", "records"): (
        "calls",
        [call_rows.SELECT_RECORDS, "SELECT COUNT(*) FROM call_statistics"],
    ),
}

_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)


def _readers_of_marks() -> set[tuple[str, str]]:
    """(module, method) of every function in src/trunkline that reads a shared mark."""
    found = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                calls = {
                    n.func.attr
                    for n in ast.walk(node)
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                }
                if calls & {"shared_change_mark", "shared_data_mark"}:
                    found.add((path.relative_to(SOURCE).as_posix(), node.name))
    return found


def test_every_cache_is_listed():
    assert _readers_of_marks() == set(CACHED_QUERIES)


def test_cached_queries_read_only_watched_tables():
    for (module, method), (group, queries) in CACHED_QUERIES.items():
        for query in queries:
            tables = set(_TABLE.findall(query))
            assert tables, query
            groups = (group,) if isinstance(group, str) else group
            watched = {table for g in groups for table in CACHED_TABLES[g]}
            assert tables <= watched, (module, method, tables)


def test_every_group_is_a_counter():
    assert set(CACHED_TABLES) == set(GROUPS)


# -- on PostgreSQL ------------------------------------------------------------------------


async def _triggers(schema: str) -> dict[tuple[str, str], str]:
    conn = await asyncpg.connect(DatabaseUrl(POSTGRES_URL).asyncpg_dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND NOT t.tgisinternal",
            schema,
        )
        return {(r[0], r[1]): r[2].replace(f"{schema}.", "") for r in rows}
    finally:
        await conn.close()


async def _drop(schemas: list[str]) -> None:
    conn = await asyncpg.connect(DatabaseUrl(POSTGRES_URL).asyncpg_dsn)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    require_postgres()
    made: list[str] = []
    yield made
    asyncio.run(_drop(made))


def _schema(made: list[str], *, shortcut: bool) -> str:
    name = f"tl_marks_{secrets.token_hex(4)}"
    made.append(name)
    migrate.upgrade(DatabaseUrl(f"{POSTGRES_URL}?schema={name}"), shortcut=shortcut)
    return name


def _expected() -> dict[tuple[str, str], str]:
    out = {}
    for group, tables in CACHED_TABLES.items():
        for table in tables:
            watched = WATCHED_COLUMNS.get(table)
            update = f"UPDATE OF {', '.join(watched)}" if watched else "UPDATE"
            bump = f"EXECUTE FUNCTION cache_marks_bump('{group}')"
            out[table, "cache_mark"] = (
                f"CREATE CONSTRAINT TRIGGER cache_mark AFTER INSERT OR DELETE OR {update}"
                f" ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {bump}"
            )
            out[table, "cache_mark_truncate"] = (
                f"CREATE TRIGGER cache_mark_truncate AFTER TRUNCATE ON {table}"
                f" FOR EACH STATEMENT {bump}"
            )
    return out


def test_fresh_and_migrated_schemas_have_every_trigger(schemas):
    fresh = _schema(schemas, shortcut=True)
    migrated = _schema(schemas, shortcut=False)
    assert asyncio.run(_triggers(fresh)) == _expected()
    assert asyncio.run(_triggers(migrated)) == _expected()


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT count(*), " + ", ".join(f"sum({g})::bigint" for g in GROUPS) + " FROM cache_marks"
    )
    assert row is not None and row[0] == SLOTS
    return dict(zip(GROUPS, row[1:], strict=True))


def _writes(s: str) -> list[tuple[str, dict[str, int]]]:
    """A write to each watched table and to a few others, with the counters it moves."""
    line = "(portal_id, line_id, config_id, type, created_at)"
    return [
        (
            f"INSERT INTO {s}.portals (domain, member_id, created_at) VALUES ('a.example', 'm', 0)",
            {"accounts": 1},
        ),
        (
            f"INSERT INTO {s}.users (portal_id, user_id, login, created_at)"
            f" SELECT id, n, 'u' || n, 0 FROM {s}.portals, generate_series(1, 50) n",
            {"accounts": 1},  # one bump per transaction, whatever the rows
        ),
        # sip.add's CONFIG_ID and REG_ID counters: no cache reads them
        (f"UPDATE {s}.portals SET last_config_id = last_config_id + 1", {}),
        (f"UPDATE {s}.portals SET last_reg_id = last_reg_id + 1", {}),
        (f"UPDATE {s}.portals SET title = 'renamed'", {"accounts": 1}),
        (
            f"INSERT INTO {s}.webhooks (portal_id, user_id, code_hash, created_at)"
            f" SELECT id, 1, 'h', 0 FROM {s}.portals",
            {"accounts": 1},
        ),
        (f"UPDATE {s}.webhooks SET active = false", {"accounts": 1}),
        (f"UPDATE {s}.users SET name = 'n' WHERE user_id = 0", {}),  # no row changed
        (f"UPDATE {s}.users SET name = 'n'", {"accounts": 1}),
        # the request journal: no cache reads it
        (
            f"INSERT INTO {s}.requests (at, method, params, http_status, duration_ms)"
            " VALUES (0, 'm', '{}', 200, 1)",
            {},
        ),
        (
            f"INSERT INTO {s}.lines {line}"
            f" SELECT id, n, n, 'office', 0 FROM {s}.portals, generate_series(1, 20) n",
            {"lines": 1},
        ),
        (f"UPDATE {s}.lines SET title = 'x' WHERE config_id = 3", {"lines": 1}),
        (f"TRUNCATE {s}.call_statistics", {"calls": 1}),
        (f"DELETE FROM {s}.event_bindings", {}),  # there were none
        # the cascade deletes users, webhooks and lines: one bump per group
        (f"DELETE FROM {s}.portals", {"accounts": 1, "lines": 1}),
    ]


async def _moved(url: DatabaseUrl, statements: list[str]) -> list[dict[str, int]]:
    # The writer has another session's search path: the trigger still finds its schema's
    # counters. The reader sees a write once it has committed.
    writer = await asyncpg.connect(url.asyncpg_dsn)
    reader = await asyncpg.connect(url.asyncpg_dsn, server_settings=url.server_settings)
    out = []
    try:
        for statement in statements:
            before = await _counts(reader)
            await writer.execute(statement)
            after = await _counts(reader)
            out.append({g: after[g] - before[g] for g in GROUPS if after[g] != before[g]})
    finally:
        await writer.close()
        await reader.close()
    return out


def test_a_write_moves_only_its_groups_counter(schemas):
    schema = _schema(schemas, shortcut=True)
    writes = _writes(schema)
    url = DatabaseUrl(f"{POSTGRES_URL}?schema={schema}")
    moved = asyncio.run(_moved(url, [statement for statement, _ in writes]))
    assert list(zip([s for s, _ in writes], moved, strict=True)) == writes


async def _open_writer_and_others(url: DatabaseUrl) -> tuple[dict[str, int], dict[str, int]]:
    """A transaction writes lines and users and stays open while this process writes both
    through the pool, once on every counter row; then it commits."""
    driver = await PostgresDriver.connect(url)
    reader = await asyncpg.connect(url.asyncpg_dsn, server_settings=url.server_settings)
    try:
        await driver.execute(
            "INSERT INTO portals (id, domain, member_id, created_at) VALUES (1, 'a', 'm', 0)"
        )
        async with driver.transaction() as conn:
            await conn.execute(
                "INSERT INTO lines (portal_id, line_id, config_id, type, created_at)"
                " VALUES (1, 1, 1, 'office', 0)"
            )
            await conn.execute(
                "INSERT INTO users (portal_id, user_id, login, created_at) VALUES (1, 1, 'a', 0)"
            )
            before = await _counts(reader)
            for n in range(2, 2 + 2 * SLOTS):  # consecutive transaction ids: every slot
                # A hang here (the counter row held by the open transaction) is the bug;
                # the timeout only turns it into a failure.
                await asyncio.wait_for(
                    driver.execute(
                        "INSERT INTO lines (portal_id, line_id, config_id, type, created_at)"
                        " VALUES (1, ?, ?, 'office', 0)",
                        (n, n),
                    ),
                    30,
                )
            during = await _counts(reader)
        after = await _counts(reader)
        return (
            {g: during[g] - before[g] for g in GROUPS},
            {g: after[g] - during[g] for g in GROUPS},
        )
    finally:
        await reader.close()
        await driver.close()


def test_an_open_transaction_blocks_no_other_writer(schemas):
    url = DatabaseUrl(f"{POSTGRES_URL}?schema={_schema(schemas, shortcut=True)}")
    during, at_commit = asyncio.run(_open_writer_and_others(url))
    assert during == {"accounts": 0, "lines": 2 * SLOTS, "calls": 0, "phones": 0}
    assert at_commit == {"accounts": 1, "lines": 1, "calls": 0, "phones": 0}
