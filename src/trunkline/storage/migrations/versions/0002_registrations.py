"""Registration state of cloud lines and bindings of office PBXs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        # wait / in_progress / success / error (STATUS_RESULT of voximplant.sip.status)
        batch.add_column(sa.Column("registration_result", sa.String(16), nullable=True))
        # Bumped by every write of a line: readers keep decoded rows keyed by it.
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("config_id", sa.BigInteger, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("received_host", sa.String(255), nullable=False),
        sa.Column("received_port", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("cseq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "config_id", "contact", name="uq_bindings_contact"),
    )
    op.create_index("ix_bindings_expiry", "bindings", ["expires_at"])


def downgrade() -> None:
    op.drop_table("bindings")
    with op.batch_alter_table("lines") as batch:
        batch.drop_column("version")
        batch.drop_column("registration_result")
