"""Portal states an operator sets, and injected faults.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_states",
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("plan", sa.String(16), nullable=False, server_default="standard"),
        sa.Column("limits", sa.String(8), nullable=False, server_default="default"),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("hold", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "faults",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("method", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("remaining", sa.Integer, nullable=True),
        sa.Column("share", sa.Float, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("faults")
    op.drop_table("portal_states")
