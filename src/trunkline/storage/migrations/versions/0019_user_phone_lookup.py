"""Users' phones: an index on ``user_phones(user_id)``, the registrar's lookup of a phone
login ``phone<USER_ID>`` across portals (without it each REGISTER scanned every phone).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_user_phones_user", "user_phones", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_phones_user", table_name="user_phones")
