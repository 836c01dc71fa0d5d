"""Test control: portal snapshots by name, the request journal, and the operator's shared
values (the virtual clock's offset), read by every worker.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.UniqueConstraint("domain", "name", name="uq_snapshots_name"),
    )
    op.create_table(
        "requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("portal", sa.String(255), nullable=True),
        sa.Column("principal", sa.String(255), nullable=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("method", sa.String(255), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(255), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("batch", sa.Boolean, nullable=False, server_default=sa.false()),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_requests_method", "requests", ["method"])
    op.create_table(
        "operator_values",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operator_values")
    op.drop_index("ix_requests_method", table_name="requests")
    op.drop_table("requests")
    op.drop_table("snapshots")
