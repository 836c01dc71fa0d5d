"""Bring a database to the newest schema with Alembic (``trunkline db upgrade``).

Shortcuts, all checked by ``tests/storage/test_fresh_schema.py`` against running every
migration:

* A new SQLite database (a file with no table at all) is made by the checked-in DDL script
  (``sqlite_schema.py``) with the standard library's ``sqlite3``, stamped at the head; and a
  SQLite database already at the head is left alone after one read of ``alembic_version``.
  Neither imports SQLAlchemy or Alembic (the head is read from the version files), so a
  fresh ``serve`` is ready in a fraction of the time.
* An empty database otherwise (PostgreSQL, or a script that is not at the head) skips the
  chain of migrations too: the tables are made from ``schema.metadata`` in one go and
  Alembic's version is stamped at the head, which is what running every migration leaves
  (``tests/storage/test_migrations.py`` checks that the migrations and the metadata agree).

A database with any table at an older revision goes through the migrations as always.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trunkline.storage import sqlite_schema
from trunkline.storage.driver import open_failure
from trunkline.storage.url import DatabaseUrl

_SCRIPTS = str(Path(__file__).with_name("migrations"))
MIGRATION_LOCK = 7_261_530  # pg_advisory_xact_lock key of `upgrade` on PostgreSQL

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

# SQLAlchemy and Alembic are imported only when they run: a new SQLite database, and one
# at the head, are handled without them.
_REVISION = re.compile(r'^(down_revision|revision) = "([^"]+)"$', re.MULTILINE)


@cache
def _head_from_files() -> str | None:
    """The head of the chain, read from the version files (no Alembic import): the one
    revision no other names as its ``down_revision``; None when that is not one."""
    revisions, parents = set(), set()
    for path in Path(_SCRIPTS, "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _config(connection: Any) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _SCRIPTS)
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(None)).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: sa.Connection, shortcut: bool = True) -> tuple[str | None, str]:
    """(revision before, revision after) of one upgrade on ``connection``."""
    import sqlalchemy as sa

    head = _head_from_files()
    if shortcut and head is not None and not sa.inspect(connection).get_table_names():
        from trunkline.storage.schema import metadata

        if connection.dialect.name == "sqlite":  # one transaction, not a commit per table
            connection.exec_driver_sql("BEGIN")
        metadata.create_all(connection)
        connection.exec_driver_sql(sqlite_schema.VERSION_TABLE)  # as `alembic stamp head`
        connection.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{head}')")
        return None, head
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(_config(connection), "head")
    return before, head_revision()


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
        done = _sqlite_without_alembic(url.sqlite_path) if shortcut else None
        if done is not None:
            return done
        import sqlalchemy as sa

        engine = sa.create_engine(url.sqlalchemy_url)
        try:
            with engine.begin() as connection:
                return _upgrade(connection, shortcut)
        finally:
            engine.dispose()
    return asyncio.run(_upgrade_async(url, shortcut))


def _sqlite_without_alembic(path: str) -> tuple[str | None, str] | None:
    """(revision before, head) when the SQLite database at ``path`` is new (then made by
    the DDL script, in one transaction) or already at the head; None: Alembic's turn."""
    head = _head_from_files()
    if head is None:
        return None
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        if _revision(db) == head:
            return head, head
        script = sqlite_schema.read()
        if script is None or script.revision != head:
            return None
        db.execute("BEGIN IMMEDIATE")  # two processes starting together: one makes it
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone():
                db.execute("ROLLBACK")
                return (head, head) if _revision(db) == head else None
            sqlite_schema.create(db, script)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return None, head
    finally:
        db.close()


def _revision(db: sqlite3.Connection) -> str | None:
    """The revision ``alembic_version`` holds (None: no such table, or not one row)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if found is None:
        return None
    rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


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
    import sqlalchemy as sa
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
            return await connection.run_sync(_upgrade, shortcut)
    finally:
        await engine.dispose()
