"""Tables of the minimal CRM (SQLAlchemy Core, declared onto ``schema.metadata``): an
entity per row, its phone numbers in a table of their own, looked up by
(portal, digits)."""

from __future__ import annotations

import sqlalchemy as sa


def define_crm_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    entities = sa.Table(
        "crm_entities",
        metadata,
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
        sa.Index("ix_crm_entities_portal", "portal_id", "entity_type", "id"),
        sqlite_autoincrement=True,
    )
    phones = sa.Table(
        "crm_phones",
        metadata,
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
        sa.Index("ix_crm_phones_digits", "portal_id", "digits"),
        sqlite_autoincrement=True,
    )
    return entities, phones
