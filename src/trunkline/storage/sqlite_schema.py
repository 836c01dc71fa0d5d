"""A new SQLite database made from a checked-in DDL script, with the standard library only.

``sqlite_schema.sql`` (beside this module) holds the statements that make the newest schema
on an empty SQLite file, ending with Alembic's version table stamped at the head revision
(named on its ``-- revision:`` line): what ``alembic upgrade head`` leaves, without importing
SQLAlchemy or Alembic (a fresh ``trunkline serve`` is ready sooner). ``migrate.py`` runs it
on a file with no table at all, when the script's revision is the head of the version files;
anything else goes through the migrations.

The script is generated from ``schema.metadata`` (``scripts/sqlite-schema`` writes it: the
tables and indexes that ``create_all`` makes, as SQLite stores them);
``tests/storage/test_fresh_schema.py`` checks that it is what the generator makes today and
that the database it makes equals the migrated one (tables, columns, types, defaults, keys,
indexes, checks, triggers), so the two cannot drift apart.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("sqlite_schema.sql")
_HEADER = """\
-- The newest schema of a new SQLite database, in one transaction: what `alembic upgrade
-- head` makes. Generated from storage/schema.py by scripts/sqlite-schema; do not edit.
-- tests/storage/test_fresh_schema.py checks it against the migrations.
"""
VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
    " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


@dataclass(frozen=True)
class Script:
    revision: str  # the Alembic revision the script stamps
    statements: list[str]


def read(path: Path = SCRIPT) -> Script | None:
    """The script (None when it is missing or names no revision)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    revision = ""
    body = []
    for line in text.splitlines():
        if line.startswith("-- revision: "):
            revision = line.removeprefix("-- revision: ").strip()
        elif not line.startswith("--"):
            body.append(line)
    statements = [s.strip() for s in "\n".join(body).split(";\n") if s.strip()]
    return Script(revision, statements) if revision else None


def create(db: sqlite3.Connection, script: Script) -> None:
    """Run ``script`` on ``db`` (in the caller's transaction: one statement at a time, as
    ``executescript`` would commit first)."""
    for statement in script.statements:
        db.execute(statement.removesuffix(";"))


def generate(revision: str) -> str:
    """The script's text: the tables, indexes and triggers ``schema.metadata`` makes on an
    empty SQLite database (as SQLite keeps them: each table in the order made, then what
    belongs to it by kind and name), stamped at ``revision``."""
    import sqlalchemy as sa

    from trunkline.storage.schema import metadata

    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            metadata.create_all(connection)
            # Each table then its indexes by name (create_all's order of indexes varies).
            rows = connection.exec_driver_sql(
                "SELECT t.sql, i.sql FROM sqlite_master AS t LEFT JOIN sqlite_master AS i"
                " ON i.tbl_name = t.name AND i.type != 'table' AND i.sql IS NOT NULL"
                " WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%'"
                " ORDER BY t.rowid, i.type, i.name"
            ).all()
    finally:
        engine.dispose()
    found = [str(text) for row in rows for text in row if text is not None]
    # Tidied for reading (SQLite keeps a statement's text as given; its meaning is the same).
    statements = [
        "\n".join(line.rstrip().replace("\t", "    ") for line in text.strip().splitlines())
        for text in dict.fromkeys(found)
    ]
    statements += [VERSION_TABLE, f"INSERT INTO alembic_version VALUES ('{revision}')"]
    return _HEADER + f"-- revision: {revision}\n\n" + "".join(f"{s};\n\n" for s in statements)
