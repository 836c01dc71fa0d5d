"""Telephony: calls while they live, the statistics their ends leave, recording files and
transcripts (``storage/call_schema.py``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("call_type", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("line_kind", sa.String(16), nullable=False),
        sa.Column("portal_number", sa.String(255), nullable=False),
        sa.Column("line_id", sa.Integer, nullable=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("phone_number", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("rest_app_id", sa.Integer, nullable=True),
        sa.Column("rest_app_name", sa.String(255), nullable=True),
        sa.Column("external_call_id", sa.String(255), nullable=True),
        sa.Column("portal_user_id", sa.Integer, nullable=True),
        sa.Column("crm_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("crm_entity_type", sa.String(16), nullable=True),
        sa.Column("crm_entity_id", sa.Integer, nullable=True),
        sa.Column("crm_bindings", sa.Text, nullable=False, server_default=""),
        sa.Column("crm_created", sa.Text, nullable=False, server_default=""),
        sa.Column("lead_error", sa.Text, nullable=True),
        sa.Column("answered_at", sa.Float, nullable=True),
        sa.Column("answered_by", sa.Integer, nullable=True),
        sa.Column("session_id", sa.BigInteger, nullable=True),
        sa.Column("redial_attempt", sa.Integer, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("call_list_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "call_id", name="uq_calls_call_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_calls_recent", "calls", ["portal_id", "user_id", "phone_number"])
    op.create_table(
        "call_statistics",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("external_call_id", sa.String(255), nullable=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("portal_user_id", sa.BigInteger, nullable=False),
        sa.Column("portal_number", sa.String(255), nullable=False),
        sa.Column("phone_number", sa.String(255), nullable=False),
        sa.Column("call_type", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("call_log", sa.Text, nullable=True),
        sa.Column("record_url", sa.Text, nullable=True),
        sa.Column("vote", sa.BigInteger, nullable=True),
        sa.Column("cost", sa.Numeric(18, 4), nullable=False, server_default="0"),
        sa.Column("cost_currency", sa.String(16), nullable=False, server_default=""),
        sa.Column("failed_code", sa.String(255), nullable=False, server_default=""),
        sa.Column("failed_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("crm_entity_type", sa.String(16), nullable=True),
        sa.Column("crm_entity_id", sa.BigInteger, nullable=True),
        sa.Column("crm_activity_id", sa.BigInteger, nullable=True),
        sa.Column("rest_app_id", sa.BigInteger, nullable=True),
        sa.Column("rest_app_name", sa.String(255), nullable=True),
        sa.Column("transcript_id", sa.BigInteger, nullable=True),
        sa.Column("transcript_pending", sa.String(1), nullable=False, server_default="N"),
        sa.Column("session_id", sa.BigInteger, nullable=True),
        sa.Column("redial_attempt", sa.BigInteger, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("record_duration", sa.BigInteger, nullable=True),
        sa.Column("record_file_id", sa.Integer, nullable=True),
        sa.Column("line_id", sa.Integer, nullable=True),
        sa.Column("crm_created", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("portal_id", "call_id", name="uq_call_statistics_call_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_call_statistics_page", "call_statistics", ["portal_id", "id"])
    op.create_table(
        "call_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("source_url", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_call_files_call", "call_files", ["portal_id", "call_id"])
    op.create_table(
        "call_transcripts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("messages", sa.Text, nullable=False),
        sa.Column("cost", sa.Numeric(18, 4), nullable=True),
        sa.Column("cost_currency", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_call_transcripts_call", "call_transcripts", ["portal_id", "call_id"])


def downgrade() -> None:
    op.drop_table("call_transcripts")
    op.drop_table("call_files")
    op.drop_table("call_statistics")
    op.drop_table("calls")
