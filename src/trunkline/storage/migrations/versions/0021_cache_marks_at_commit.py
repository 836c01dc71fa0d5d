"""The caches' change counters bump as a transaction commits (deferred row-level constraint
triggers), no longer at the write itself (0020's statement triggers).

0020's triggers took a counter row's lock at the first write and held it until commit. A
transaction that then waited for its client (a line writer open while the same process
wrote through another connection) could block every writer of that row, and the other
writer, awaited by that same client, never came back. Now the row is taken only while
committing, when nothing waits for a client (storage/mark_schema.py). A write that changes
no row no longer bumps. TRUNCATE keeps a statement trigger.

A fourth counter, ``phones``, watches user_phones and phone_bindings: the registrar keeps
users' phone accounts and bindings in memory (engine/phones.py), and on PostgreSQL only the
``accounts`` counter moved for them, so another node's change to a phone went unseen.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_GROUPS = ("accounts", "lines", "calls", "phones")
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
    "user_phones": ("phones", None),
    "phone_bindings": ("phones", None),
}
_BUMP = ", ".join(f"{g} = {g} + (TG_ARGV[0] = '{g}')::int" for g in _GROUPS)
_FLAG = "'trunkline.cache_mark_' || TG_ARGV[0]"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE cache_marks ADD COLUMN phones BIGINT NOT NULL DEFAULT 0")
    op.execute(
        "CREATE OR REPLACE FUNCTION cache_marks_bump() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $$ BEGIN"
        " IF TG_LEVEL = 'ROW' THEN"
        f" IF current_setting({_FLAG}, true) = '1' THEN RETURN NULL; END IF;"
        f" PERFORM set_config({_FLAG}, '1', true);"
        " END IF;"
        f" UPDATE cache_marks SET {_BUMP} WHERE slot = mod(txid_current(), 32);"
        " RETURN NULL; END $$"
    )
    for table, (group, watched) in _TABLES.items():
        update = f"UPDATE OF {', '.join(watched)}" if watched else "UPDATE"
        op.execute(f"DROP TRIGGER IF EXISTS cache_mark ON {table}")
        op.execute(
            f"CREATE CONSTRAINT TRIGGER cache_mark AFTER INSERT OR {update} OR DELETE"
            f" ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            f" EXECUTE FUNCTION cache_marks_bump('{group}')"
        )
        op.execute(
            f"CREATE TRIGGER cache_mark_truncate AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION cache_marks_bump('{group}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (group, watched) in _TABLES.items():
        update = f"UPDATE OF {', '.join(watched)}" if watched else "UPDATE"
        op.execute(f"DROP TRIGGER IF EXISTS cache_mark_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS cache_mark ON {table}")
        if group == "phones":
            continue
        op.execute(
            f"CREATE TRIGGER cache_mark AFTER INSERT OR {update} OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION cache_marks_bump('{group}')"
        )
    bump = ", ".join(f"{g} = {g} + (TG_ARGV[0] = '{g}')::int" for g in _GROUPS[:3])
    op.execute(
        "CREATE OR REPLACE FUNCTION cache_marks_bump() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path FROM CURRENT AS $$ BEGIN"
        f" UPDATE cache_marks SET {bump} WHERE slot = mod(txid_current(), 32);"
        " RETURN NULL; END $$"
    )
    op.execute("ALTER TABLE cache_marks DROP COLUMN phones")
