"""External telephony: the lines applications own (``telephony.externalLine.*``;
``storage/external_schema.py``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("app_key", sa.Integer, nullable=False, server_default="0"),
        sa.Column("number", sa.String(50), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("crm_auto_create", sa.String(1), nullable=False, server_default="Y"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "app_key", "number", name="uq_external_lines_number"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("external_lines")
