"""A new database skips the chain of migrations: on SQLite it is made by the checked-in DDL
script (``storage/sqlite_schema.sql``), elsewhere (or with a script not at the head) from the
metadata, and stamped at the head. Each must give the database that running every migration
gives: the same tables, columns, types, defaults, keys, indexes, checks, triggers, views and
version."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from trunkline.storage import migrate, sqlite_schema
from trunkline.storage.url import DatabaseUrl

Shape = dict[str, set[tuple[Any, ...]]]


def _checks(sql: str) -> set[tuple[Any, ...]]:
    """The CHECK constraints of a table's SQL, as text without spaces or quotes."""
    found = set()
    for match in re.finditer(r"\bCHECK\s*\(", sql, re.IGNORECASE):
        depth, start = 1, match.end()
        end = start
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        found.add(("check", re.sub(r"[\s\"'`]", "", sql[start : end - 1]).lower()))
    return found


def shape(path: Path) -> Shape:
    """Per table: columns (name, type, not null, default, primary key), indexes (name,
    unique, origin, partial, columns with order and collation), foreign keys, checks and
    AUTOINCREMENT; the triggers and views; the version."""
    db = sqlite3.connect(path)
    try:
        found: Shape = {}
        objects = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        for kind, name, table, sql in objects:
            if kind in ("trigger", "view"):
                text = re.sub(r"[\s\"'`]", "", str(sql)).lower()
                found.setdefault(kind, set()).add((name, table, text))
            if kind != "table" or name.startswith("sqlite_"):
                continue
            rows: set[tuple[Any, ...]] = {
                ("column", r[1], str(r[2]).upper(), r[3], r[4], r[5], r[6])
                for r in db.execute(f"PRAGMA table_xinfo('{name}')")
            }
            for index in db.execute(f"PRAGMA index_list('{name}')").fetchall():
                columns = tuple(
                    tuple(r[1:]) for r in db.execute(f"PRAGMA index_xinfo('{index[1]}')")
                )
                auto = str(index[1]).startswith("sqlite_autoindex_")
                rows.add(("index", "auto" if auto else index[1], *index[2:], columns))
            rows |= {
                ("foreign key", *r[1:]) for r in db.execute(f"PRAGMA foreign_key_list('{name}')")
            }
            rows |= _checks(str(sql))
            rows.add(("autoincrement", "AUTOINCREMENT" in str(sql).upper()))
            found[name] = rows
        found["version"] = {tuple(r) for r in db.execute("SELECT * FROM alembic_version")}
        return found
    finally:
        db.close()


def test_the_script_is_what_the_generator_makes_at_the_head():
    script = sqlite_schema.read()
    assert script is not None and script.revision == migrate.head_revision()
    # Failing here: run scripts/sqlite-schema (after changing storage/schema.py).
    assert sqlite_schema.SCRIPT.read_text() == sqlite_schema.generate(migrate.head_revision())


def test_a_new_sqlite_file_from_the_script_equals_the_migrated_one(tmp_path: Path):
    fresh, migrated = tmp_path / "fresh.sqlite3", tmp_path / "migrated.sqlite3"
    assert migrate.upgrade(DatabaseUrl(f"sqlite:///{fresh}")) == (None, migrate.head_revision())
    migrate.upgrade(DatabaseUrl(f"sqlite:///{migrated}"), shortcut=False)
    assert shape(fresh) == shape(migrated)
    assert len(shape(fresh)) > 30  # every table was seen


def test_a_new_database_from_the_metadata_equals_the_migrated_one(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sqlite_schema, "read", lambda: None)  # as without the script
    made, migrated = tmp_path / "made.sqlite3", tmp_path / "migrated.sqlite3"
    assert migrate.upgrade(DatabaseUrl(f"sqlite:///{made}")) == (None, migrate.head_revision())
    migrate.upgrade(DatabaseUrl(f"sqlite:///{migrated}"), shortcut=False)
    assert shape(made) == shape(migrated)


def test_a_script_not_at_the_head_is_not_used(tmp_path: Path, monkeypatch):
    stale = sqlite_schema.Script("0001", ["CREATE TABLE stale (x INTEGER)"])
    monkeypatch.setattr(sqlite_schema, "read", lambda: stale)
    path = tmp_path / "new.sqlite3"
    assert migrate.upgrade(DatabaseUrl(f"sqlite:///{path}")) == (None, migrate.head_revision())
    assert "stale" not in shape(path) and "portals" in shape(path)


def test_a_new_sqlite_file_and_one_at_the_head_need_no_sqlalchemy(tmp_path: Path):
    code = (
        "import sys\n"
        "from trunkline.storage import migrate\n"
        "from trunkline.storage.url import DatabaseUrl\n"
        f"url = DatabaseUrl('sqlite:///{tmp_path / 'new.sqlite3'}')\n"
        "print(migrate.upgrade(url), migrate.upgrade(url))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    head = migrate.head_revision()
    assert done.stdout.splitlines() == [f"(None, '{head}') ('{head}', '{head}')", "[]"]


def test_new_sqlite_file_upgraded_by_two_at_once(tmp_path: Path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    results: list[tuple[str | None, str]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate.upgrade(url))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = migrate.head_revision()
    assert len(results) == 2 and set(results) == {(None, head), (head, head)}


def test_a_database_with_tables_takes_the_migrations(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE unrelated (x INTEGER)")
    db.commit()
    db.close()
    assert migrate.upgrade(DatabaseUrl(f"sqlite:///{path}")) == (None, migrate.head_revision())
    tables = shape(path)
    assert "unrelated" in tables and "portals" in tables


def test_a_database_at_an_older_revision_takes_the_migrations(tmp_path: Path):
    import sqlalchemy as sa
    from alembic import command

    url = DatabaseUrl(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    engine = sa.create_engine(url.sqlalchemy_url)
    with engine.begin() as connection:
        command.upgrade(migrate._config(connection), "0001")
    engine.dispose()
    assert migrate.upgrade(url) == ("0001", migrate.head_revision())
    assert shape(tmp_path / "old.sqlite3") == shape_of_new(tmp_path)


def shape_of_new(tmp_path: Path) -> Shape:
    path = tmp_path / "reference.sqlite3"
    migrate.upgrade(DatabaseUrl(f"sqlite:///{path}"))
    return shape(path)


@pytest.mark.parametrize("content", ["", "-- no revision line\nCREATE TABLE x (y INTEGER);\n"])
def test_read_a_script_without_a_revision(tmp_path: Path, content: str):
    path = tmp_path / "s.sql"
    path.write_text(content)
    assert sqlite_schema.read(path) is None
    assert sqlite_schema.read(tmp_path / "missing.sql") is None
