"""Cluster ownership of cloud lines on PostgreSQL: one row per live node with its lease,
one row per hash bucket of lines with its owner and fencing token (storage/cluster.py).
SQLite keeps the tables empty: one process runs the engine there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(255), nullable=False, server_default=""),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.create_table(
        "engine_buckets",
        sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("node", sa.String(64), nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("previous", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("engine_buckets")
    op.drop_table("engine_nodes")
