"""Fewer indexes on lines: every sip.add pays a B-tree insert for each one.

The per-field indexes (TYPE, SERVER, LOGIN, INCOMING_LOGIN, REG_ID, status), all led by
``portal_id``, only narrowed filters that are already confined to one caller's scope, which
``ix_lines_scope`` finds and which holds a few hundred lines at most. Two partial indexes
replace them for the lookups that are not scoped by a portal: the engine's cloud lines
(with REG_ID, for voximplant.sip.status) and the registrar's search by INCOMING_LOGIN, which
the old ``(portal_id, incoming_login)`` index could not serve. Measured on SQLite with 10,000
lines: an insert with its share of a commit went from 62 to 30 µs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DROPPED = {
    "ix_lines_type": ["portal_id", "type"],
    "ix_lines_reg": ["portal_id", "reg_id"],
    "ix_lines_server": ["portal_id", "server"],
    "ix_lines_login": ["portal_id", "login"],
    "ix_lines_incoming_login": ["portal_id", "incoming_login"],
    "ix_lines_status": ["portal_id", "registration_status_code"],
}


def _partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        "lines",
        columns,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    for name in _DROPPED:
        op.drop_index(name, table_name="lines")
    _partial("ix_lines_cloud", ["portal_id", "config_id", "reg_id"], "type = 'cloud'")
    _partial("ix_lines_office_login", ["incoming_login"], "type = 'office'")


def downgrade() -> None:
    op.drop_index("ix_lines_office_login", table_name="lines")
    op.drop_index("ix_lines_cloud", table_name="lines")
    for name, columns in _DROPPED.items():
        op.create_index(name, "lines", columns)
