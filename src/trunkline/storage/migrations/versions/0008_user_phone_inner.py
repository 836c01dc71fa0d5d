"""Users: the inner phone number (``UF_PHONE_INNER``) and e-mail.

``phone_inner`` is the user's extension, which telephony methods resolve to a user
(``telephony.externalCall.register`` with ``USER_PHONE_INNER``) and ``user.get`` shows as
``UF_PHONE_INNER``; NULL when the user has none. The index serves that lookup within a
portal. ``email`` is shown by ``user.get`` and ``profile``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_inner", sa.String(32), nullable=True))
        batch.add_column(sa.Column("email", sa.String(255), nullable=False, server_default=""))
    op.create_index("ix_users_phone_inner", "users", ["portal_id", "phone_inner"])


def downgrade() -> None:
    op.drop_index("ix_users_phone_inner", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
        batch.drop_column("phone_inner")
