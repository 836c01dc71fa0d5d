"""Built-in telephony: the portal's options (the default outgoing line), users' SIP
phones (PHONE_ENABLED, the SIP password, DEFAULT_LINE) and the bindings of the phones
registered to the office registrar with them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_options",
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "user_phones",
        sa.Column("portal_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("phone_enabled", sa.String(1), nullable=True),
        sa.Column("sip_password", sa.Text, nullable=True),
        sa.Column("default_line", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "phone_bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("portal_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("received_host", sa.String(255), nullable=False),
        sa.Column("received_port", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("cseq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("instance_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("reg_id", sa.Integer, nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
        ),
        sa.UniqueConstraint("portal_id", "user_id", "contact", name="uq_phone_bindings_contact"),
    )
    op.create_index("ix_phone_bindings_expiry", "phone_bindings", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_phone_bindings_expiry", table_name="phone_bindings")
    op.drop_table("phone_bindings")
    op.drop_table("user_phones")
    op.drop_table("portal_options")
