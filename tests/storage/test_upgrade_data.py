"""Upgrading a database with data, from every earlier Alembic revision to head (issue 13).

For each revision R before head, on SQLite and on PostgreSQL: migrate an empty database to
R, put one row in every table that exists at R (values made from each column's type, foreign
keys pointing at the rows of the tables they reference), upgrade to head, and check that
every row is still there with the same value in every column it had at R. A migration that
drops, truncates or rewrites existing data fails here.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from tests.conftest import POSTGRES_URL, _drop_schema, require_postgres
from trunkline.storage import migrate
from trunkline.storage.url import DatabaseUrl

CHOICES = {  # columns whose values a CHECK or the code keeps to a small set
    "type": "cloud",
    "status": "L",
    "detect_line_number": "N",
    "incoming_algorithm": "MD5",
    "state": "active",
}


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate._config(None))
    chain = [r.revision for r in script.walk_revisions()]  # head first
    return list(reversed(chain))[:-1]


def _value(table: sa.Table, column: sa.Column[Any], rows: dict[str, dict[str, Any]]) -> Any:
    for key in column.foreign_keys:
        target = key.column
        return rows[target.table.name][target.name]
    kind = column.type
    if column.name in CHOICES and isinstance(kind, sa.String):
        return CHOICES[column.name]
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1 if column.primary_key else 7
    if isinstance(kind, sa.Float | sa.Numeric):
        return 1.5
    if isinstance(kind, sa.String | sa.Text):
        text = f"{table.name}.{column.name}"
        length = getattr(kind, "length", None)
        return text[-length:] if length else text
    if isinstance(kind, sa.LargeBinary):
        return b"\x00data"
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({kind!r})")


def _fill(connection: sa.Connection) -> dict[str, dict[str, Any]]:
    meta = sa.MetaData()
    meta.reflect(connection)
    rows: dict[str, dict[str, Any]] = {}
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        if connection.execute(sa.select(sa.func.count()).select_from(table)).scalar():
            continue  # rows a migration made itself (cache_marks' counters): left to it
        row = {column.name: _value(table, column, rows) for column in table.columns}
        connection.execute(table.insert().values(**row))
        rows[table.name] = row
    return rows


def _check(connection: sa.Connection, rows: dict[str, dict[str, Any]]) -> None:
    meta = sa.MetaData()
    meta.reflect(connection)
    for name, row in rows.items():
        table = meta.tables[name]
        kept = {k: v for k, v in row.items() if k in table.columns}
        found = connection.execute(sa.select(*[table.c[k] for k in kept])).all()
        assert [tuple(kept.values())] == [tuple(r) for r in found], name


def _at(connection: sa.Connection, revision: str) -> dict[str, dict[str, Any]]:
    command.upgrade(migrate._config(connection), revision)
    return _fill(connection)


def _to_head(connection: sa.Connection, rows: dict[str, dict[str, Any]]) -> None:
    command.upgrade(migrate._config(connection), "head")
    _check(connection, rows)


@pytest.mark.parametrize("revision", _revisions())
def test_sqlite_upgrade_from_each_revision_keeps_the_data(tmp_path, revision):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'u.sqlite3'}")
    engine = sa.create_engine(url.sqlalchemy_url)
    try:
        with engine.begin() as connection:
            rows = _at(connection, revision)
        with engine.begin() as connection:
            _to_head(connection, rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", _revisions())
def test_postgres_upgrade_from_each_revision_keeps_the_data(revision):
    require_postgres()
    from sqlalchemy.ext.asyncio import create_async_engine

    url = DatabaseUrl(f"{POSTGRES_URL}?schema=tl_up_{secrets.token_hex(4)}")

    async def scenario() -> None:
        engine = create_async_engine(
            url.sqlalchemy_url, connect_args={"server_settings": url.server_settings}
        )
        try:
            async with engine.begin() as connection:
                await connection.execute(sa.text(f'CREATE SCHEMA "{url.postgres_schema}"'))
            async with engine.begin() as connection:
                rows = await connection.run_sync(_at, revision)
            async with engine.begin() as connection:
                await connection.run_sync(_to_head, rows)
        finally:
            await engine.dispose()
            await _drop_schema(url)

    asyncio.run(scenario())


def test_postgres_upgrades_started_together_take_turns():
    """Nodes started at once on a database that needs migrating: one migrates, the others
    wait for it and find the schema at head (no "relation already exists")."""
    require_postgres()
    url = DatabaseUrl(f"{POSTGRES_URL}?schema=tl_race_{secrets.token_hex(4)}")

    async def scenario() -> list[tuple[str | None, str]]:
        try:
            return list(await asyncio.gather(*(migrate.upgrade_async(url) for _ in range(3))))
        finally:
            await _drop_schema(url)

    results = asyncio.run(scenario())
    head = migrate.head_revision()
    assert all(after == head for _, after in results)
    assert sorted(str(before) for before, _ in results) == sorted(["None", head, head])
