"""The caches' change counters on PostgreSQL (issue 13): a ``cache_marks`` table of
counters per group of cached tables, bumped by statement-level triggers on exactly the tables
the authentication and answer caches read (storage/mark_schema.py). Until now the caches
were keyed on the server's transaction snapshot, which any write anywhere on the server
moved. SQLite is left as it is: it keeps ``PRAGMA data_version``.

The tables and statements are written out here as they were when this migration was made; the fresh
path (``schema.metadata``) runs ``mark_schema.create_statements()``, and
``tests/storage/test_mark_triggers.py`` checks that both give the same triggers.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_GROUPS = ("accounts", "lines", "calls")
_TABLES = {  # table: (group, the columns whose updates count; None: every column)
    "portals": (
        "accounts",
        ("id", "domain", "member_id", "title", "timezone", "language", "license"),
    ),
    "users": ("accounts", None),
    "webhooks": ("accounts", None),
    "event_bindings": ("accounts", None),
    "lines": ("lines", None),
    "call_statistics": ("calls", None),
}
_BUMP = ", ".join(f"{g} = {g} + (TG_ARGV[0] = '{g}')::int" for g in _GROUPS)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    columns = ", ".join(f"{g} BIGINT NOT NULL DEFAULT 0" for g in _GROUPS)
    op.execute(f"CREATE TABLE cache_marks (slot SMALLINT PRIMARY KEY, {columns})")
    op.execute("INSERT INTO cache_marks (slot) SELECT generate_series(0, 31)")
    op.execute(
        "CREATE FUNCTION cache_marks_bump() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $$ BEGIN"
        f" UPDATE cache_marks SET {_BUMP} WHERE slot = mod(txid_current(), 32);"
        " RETURN NULL; END $$"
    )
    for table, (group, watched) in _TABLES.items():
        update = f"UPDATE OF {', '.join(watched)}" if watched else "UPDATE"
        op.execute(
            f"CREATE TRIGGER cache_mark AFTER INSERT OR {update} OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION cache_marks_bump('{group}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS cache_mark ON {table}")
    op.execute("DROP FUNCTION IF EXISTS cache_marks_bump()")
    op.execute("DROP TABLE IF EXISTS cache_marks")
