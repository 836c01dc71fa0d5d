"""Tables of external telephony: the lines applications report calls on (SQLAlchemy
Core, declared onto ``schema.metadata``).

A line is keyed by portal, application and NUMBER. ``app_key`` is the application's row
id, or 0 for lines made with a webhook (no application): a NOT NULL key, so that the
unique index holds for webhook lines too (NULLs never collide in a unique index).
"""

from __future__ import annotations

import sqlalchemy as sa


def define_uploads_table(metadata: sa.MetaData) -> sa.Table:
    """Upload URLs of ``attachRecord`` with FILENAME alone: a token (stored as its hash)
    that lets one POST store the call's recording until it expires."""
    return sa.Table(
        "call_uploads",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )


def define_external_tables(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "external_lines",
        metadata,
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
