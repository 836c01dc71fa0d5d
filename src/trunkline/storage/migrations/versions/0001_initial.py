"""Portals, users, webhooks and SIP lines.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NAMED_TITLE = sa.text("title IS NOT NULL AND title <> ''")


def upgrade() -> None:
    op.create_table(
        "portals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(255), nullable=False, unique=True),
        sa.Column("member_id", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(255), nullable=False, server_default=""),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("language", sa.String(8), nullable=False, server_default="en"),
        sa.Column("license", sa.String(64), nullable=False, server_default="en_project"),
        sa.Column("last_config_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_reg_id", sa.BigInteger, nullable=False, server_default="150000"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("login", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("line_modify", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "login", name="uq_users_login"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(255), nullable=False, server_default=""),
        sa.Column("scopes", sa.Text, nullable=False, server_default=""),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
        ),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("line_id", sa.BigInteger, nullable=False),
        sa.Column("config_id", sa.BigInteger, nullable=False),
        sa.Column("app_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("server", sa.String(255), nullable=True),
        sa.Column("login", sa.String(255), nullable=True),
        sa.Column("password", sa.Text, nullable=True),
        sa.Column("incoming_server", sa.String(255), nullable=True),
        sa.Column("incoming_login", sa.String(255), nullable=True),
        sa.Column("incoming_password", sa.Text, nullable=True),
        sa.Column("auth_user", sa.String(255), nullable=True),
        sa.Column("outbound_proxy", sa.String(255), nullable=True),
        sa.Column("detect_line_number", sa.String(1), nullable=False, server_default="N"),
        sa.Column(
            "line_detect_header_order", sa.String(32), nullable=False, server_default="diversion;to"
        ),
        sa.Column("reg_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("registration_status_code", sa.BigInteger, nullable=True),
        sa.Column("registration_error_message", sa.Text, nullable=True),
        sa.Column("registration_updated_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "config_id", name="uq_lines_config"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lines_scope", "lines", ["portal_id", "app_id", "config_id"])
    op.create_index("ix_lines_type", "lines", ["portal_id", "type"])
    op.create_index("ix_lines_reg", "lines", ["portal_id", "reg_id"])
    op.create_index(
        "uq_lines_title",
        "lines",
        ["portal_id", "title"],
        unique=True,
        sqlite_where=_NAMED_TITLE,
        postgresql_where=_NAMED_TITLE,
    )
    op.create_index("ix_lines_server", "lines", ["portal_id", "server"])
    op.create_index("ix_lines_login", "lines", ["portal_id", "login"])
    op.create_index("ix_lines_incoming_login", "lines", ["portal_id", "incoming_login"])
    op.create_index("ix_lines_status", "lines", ["portal_id", "registration_status_code"])


def downgrade() -> None:
    for table in ("lines", "webhooks", "users", "portals"):
        op.drop_table(table)
