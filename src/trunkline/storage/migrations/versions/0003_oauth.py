"""OAuth applications, installs, codes, tokens, user passwords, SIP connector state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.String(255), nullable=False, server_default=""),
        sa.Column("code", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(1), nullable=False, server_default="L"),
        sa.Column("scopes", sa.Text, nullable=False, server_default=""),
        sa.Column("handler_url", sa.Text, nullable=False, server_default=""),
        sa.Column("redirect_uri", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "app_installs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "app_id", sa.Integer, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("allowed_users", sa.Text, nullable=False, server_default=""),
        sa.Column("application_token", sa.Text, nullable=True),
        sa.Column("installed_by", sa.Integer, nullable=True),
        sa.Column("installed_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "app_id", name="uq_app_installs"),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column(
            "install_id",
            sa.Integer,
            sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_oauth_codes_expiry", "oauth_codes", ["expires_at"])
    op.create_table(
        "oauth_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "install_id",
            sa.Integer,
            sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("access_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False, server_default=""),
        sa.Column("access_expires_at", sa.Float, nullable=False),
        sa.Column("refresh_expires_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_oauth_tokens_install", "oauth_tokens", ["install_id"])
    op.create_index("ix_oauth_tokens_expiry", "oauth_tokens", ["refresh_expires_at"])
    op.create_table(
        "user_passwords",
        sa.Column("portal_id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "connectors",
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("free_minutes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("paid", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paid_until", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "connectors",
        "user_passwords",
        "oauth_tokens",
        "oauth_codes",
        "app_installs",
        "apps",
    ):
        op.drop_table(table)
