"""An empty database is made from the metadata and stamped at the head (the shortcut of a
fresh start): the same tables, indexes and version as running every migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trunkline.storage import migrate
from trunkline.storage.url import DatabaseUrl


def shape(path: Path) -> dict[str, set[tuple[str, ...]]]:
    """Per table: its columns (name, type, not null, default, pk) and its indexes."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found: dict[str, set[tuple[str, ...]]] = {}
        for table in tables:
            if table == "sqlite_sequence":
                continue
            columns = {
                ("column", str(r[1]), str(r[2]).upper(), str(r[3]), str(r[4]), str(r[5]))
                for r in db.execute(f"PRAGMA table_info('{table}')")
            }
            indexes = {
                ("index", str(r[1]), str(r[2]), str(r[3]))  # name, unique, origin
                for r in db.execute(f"PRAGMA index_list('{table}')")
            }
            found[table] = columns | indexes
        found["alembic_version"] = {tuple(r) for r in db.execute("SELECT * FROM alembic_version")}
        return found
    finally:
        db.close()


def test_fresh_database_equals_the_migrated_one(tmp_path: Path):
    fresh, migrated = tmp_path / "fresh.sqlite3", tmp_path / "migrated.sqlite3"
    assert migrate.upgrade(DatabaseUrl(f"sqlite:///{fresh}")) == (None, migrate.head_revision())
    migrate.upgrade(DatabaseUrl(f"sqlite:///{migrated}"), shortcut=False)
    assert shape(fresh) == shape(migrated)


def test_a_database_with_tables_takes_the_migrations(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE unrelated (x INTEGER)")
    db.commit()
    db.close()
    migrate.upgrade(DatabaseUrl(f"sqlite:///{path}"))
    tables = shape(path)
    assert "unrelated" in tables and "portals" in tables
