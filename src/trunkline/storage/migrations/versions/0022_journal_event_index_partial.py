"""The delivery journal's ``(event, outcome)`` index holds delivery attempts only
(``outcome <> 'refused'``): the "no binding" line every unbound call event writes no longer
updates it (it cost more than the line itself: bench/telephony/README.md). Counts and reads
of refusals go by ``id`` instead (``storage/event_journal.py``).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_ATTEMPTS = sa.text("outcome <> 'refused'")


def upgrade() -> None:
    op.drop_index("ix_event_journal_event", table_name="event_journal")
    op.create_index(
        "ix_event_journal_event",
        "event_journal",
        ["event", "outcome"],
        sqlite_where=_ATTEMPTS,
        postgresql_where=_ATTEMPTS,
    )


def downgrade() -> None:
    op.drop_index("ix_event_journal_event", table_name="event_journal")
    op.create_index("ix_event_journal_event", "event_journal", ["event", "outcome"])
