"""Bring a database to the newest schema with Alembic (``trunkline db upgrade``).

An empty database (no table at all) skips the chain of migrations: the tables are made
from ``schema.metadata`` in one go and Alembic's version is stamped at the head, which is
what running every migration leaves (``tests/storage/test_migrations.py`` checks that the
migrations and the metadata agree, and ``test_fresh_schema.py`` that both paths give the
same database). A fresh ``serve`` is ready in a fraction of the time; a database with any
table goes through the migrations as always.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from trunkline.storage.driver import open_failure
from trunkline.storage.url import DatabaseUrl

_SCRIPTS = str(Path(__file__).with_name("migrations"))
MIGRATION_LOCK = 7_261_530  # pg_advisory_xact_lock key of `upgrade` on PostgreSQL


def _config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", _SCRIPTS)
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config(None)).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: sa.Connection, shortcut: bool = True) -> str | None:
    before = MigrationContext.configure(connection).get_current_revision()
    if shortcut and before is None and not sa.inspect(connection).get_table_names():
        from trunkline.storage.schema import metadata

        if connection.dialect.name == "sqlite":  # one transaction, not a commit per table
            connection.exec_driver_sql("BEGIN")
        metadata.create_all(connection)
        command.stamp(_config(connection), "head")
        return before
    command.upgrade(_config(connection), "head")
    return before


def upgrade(url: DatabaseUrl, *, shortcut: bool = True) -> tuple[str | None, str]:
    """Upgrade to head; returns (revision before, revision after). A database that cannot
    be reached or opened is a :class:`DatabaseOpenError`. ``shortcut=False`` runs every
    migration even on an empty database (the tests that check the migrations)."""
    try:
        return _upgrade_sync(url, shortcut)
    except Exception as exc:
        failure = open_failure(url, exc)
        if failure is None:
            raise
        raise failure from exc


def _upgrade_sync(url: DatabaseUrl, shortcut: bool = True) -> tuple[str | None, str]:
    if url.is_sqlite:
        url.ensure_parent()
        engine = sa.create_engine(url.sqlalchemy_url)
        try:
            with engine.begin() as connection:
                before = _upgrade(connection, shortcut)
        finally:
            engine.dispose()
        return before, head_revision()
    return asyncio.run(_upgrade_async(url, shortcut))


async def upgrade_async(url: DatabaseUrl) -> tuple[str | None, str]:
    if url.is_sqlite:
        return await asyncio.to_thread(upgrade, url)
    try:
        return await _upgrade_async(url)
    except Exception as exc:
        failure = open_failure(url, exc)
        if failure is None:
            raise
        raise failure from exc


async def _upgrade_async(url: DatabaseUrl, shortcut: bool = True) -> tuple[str | None, str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        url.sqlalchemy_url, connect_args={"server_settings": url.server_settings}
    )
    try:
        schema = url.postgres_schema
        if schema:
            async with engine.begin() as connection:
                await connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                await connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        async with engine.begin() as connection:
            # Nodes started together take turns: the first migrates, the others then find
            # the schema at head (a transaction-level advisory lock, released at commit).
            await connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            before = await connection.run_sync(_upgrade, shortcut)
    finally:
        await engine.dispose()
    return before, head_revision()
