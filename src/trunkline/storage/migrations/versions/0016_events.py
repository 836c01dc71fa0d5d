"""Outbound events: the handlers ``event.bind`` registers, the outbox written with each
event's cause, the delivery journal and the offline queue (``storage/event_schema.py``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _portal() -> sa.Column[int]:
    return sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    )


def _install() -> sa.Column[int]:
    return sa.Column(
        "install_id",
        sa.Integer,
        sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "event_bindings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        _install(),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("auth_type", sa.Integer, nullable=False, server_default="0"),
        sa.Column("event_type", sa.String(8), nullable=False, server_default="online"),
        sa.Column("auth_connector", sa.String(255), nullable=False, server_default=""),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_bindings_event", "event_bindings", ["portal_id", "event"])
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        _install(),
        sa.Column("binding_id", sa.Integer, nullable=True),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("sealed_auth", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_outbox_due", "event_outbox", ["due_at"])
    op.create_table(
        "event_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("portal_id", sa.Integer, nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("install_id", sa.Integer, nullable=True),
        sa.Column("binding_id", sa.Integer, nullable=True),
        sa.Column("app_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("handler", sa.Text, nullable=False, server_default=""),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_journal_event", "event_journal", ["event", "outcome"])
    op.create_index("ix_event_journal_outbox", "event_journal", ["outbox_id"])
    op.create_index("ix_event_journal_portal", "event_journal", ["portal_id", "id"])
    op.create_table(
        "event_offline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        _install(),
        sa.Column("binding_id", sa.Integer, nullable=True),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("additional", sa.Text, nullable=False, server_default=""),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("auth_connector", sa.String(255), nullable=False, server_default=""),
        sa.Column("process_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_offline_install", "event_offline", ["install_id", "id"])


def downgrade() -> None:
    for table in ("event_offline", "event_journal", "event_outbox", "event_bindings"):
        op.drop_table(table)
