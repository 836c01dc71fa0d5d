"""Office lines: a per-line digest algorithm; bindings: RFC 5626 instance and reg-id.

``incoming_algorithm`` is the digest algorithm the office registrar challenges the line
with: ``MD5`` for every line unless the operator opts one in to ``SHA-256``
(``trunkline line set --digest``; sip-registration.md §3.4 says why MD5 stays the
default). The partial index holds only the opted-in lines, which the registrar reads at
every poll; an insert of any other line only evaluates its predicate.

``instance_id`` and ``reg_id`` keep a binding's ``+sip.instance`` and ``reg-id`` Contact
parameters (RFC 5626 §4.2), empty and 0 when the PBX sent none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPTED_IN = "type = 'office' AND incoming_algorithm <> 'MD5'"


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.add_column(
            sa.Column("incoming_algorithm", sa.String(16), nullable=False, server_default="MD5")
        )
    op.create_index(
        "ix_lines_office_digest",
        "lines",
        ["incoming_login"],
        sqlite_where=sa.text(_OPTED_IN),
        postgresql_where=sa.text(_OPTED_IN),
    )
    with op.batch_alter_table("bindings") as batch:
        batch.add_column(
            sa.Column("instance_id", sa.String(255), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("reg_id", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.drop_column("reg_id")
        batch.drop_column("instance_id")
    op.drop_index("ix_lines_office_digest", table_name="lines")
    with op.batch_alter_table("lines") as batch:
        batch.drop_column("incoming_algorithm")
