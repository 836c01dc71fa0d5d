"""Tables of test control (migration 0013): portal snapshots, the request journal and the
operator's shared values (SQLAlchemy Core, declared onto ``schema.metadata``).

None of them has a ``portal_id`` column: a snapshot and a journal row name their portal by
domain, so that they outlive it (a snapshot restores a deleted portal) and a portal's
snapshot never copies snapshots or journal rows.
"""

from __future__ import annotations

import sqlalchemy as sa


def define_control_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    snapshots = sa.Table(
        "snapshots",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),  # JSON: table -> columns and rows
        sa.UniqueConstraint("domain", "name", name="uq_snapshots_name"),
    )
    requests = sa.Table(
        "requests",
        metadata,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.Float, nullable=False),  # the application clock
        sa.Column("portal", sa.String(255), nullable=True),
        sa.Column("principal", sa.String(255), nullable=True),  # webhook:<id> | app:<client_id>
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("method", sa.String(255), nullable=False),
        sa.Column("params", sa.Text, nullable=False),  # JSON, secrets masked
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(255), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("batch", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("ix_requests_method", "method"),
        # Rows are read in id order and trimmed from the oldest: ids never come back.
        sqlite_autoincrement=True,
    )
    values = sa.Table(
        "operator_values",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    return snapshots, requests, values
