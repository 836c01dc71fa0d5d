"""The minimal CRM of the telephony flow: contacts, companies and leads with their phone
numbers (``storage/crm_schema.py``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_entities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "portal_id",
            sa.Integer,
            sa.ForeignKey("portals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("assigned_by", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_crm_entities_portal", "crm_entities", ["portal_id", "entity_type", "id"])
    op.create_table(
        "crm_phones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "entity_id",
            sa.Integer,
            sa.ForeignKey("crm_entities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("portal_id", sa.Integer, nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("digits", sa.String(64), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_crm_phones_digits", "crm_phones", ["portal_id", "digits"])


def downgrade() -> None:
    op.drop_table("crm_phones")
    op.drop_table("crm_entities")
