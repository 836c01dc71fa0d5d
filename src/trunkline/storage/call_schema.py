"""Tables of telephony: calls while they live, the statistics their ends leave, records
and transcripts attached to those (SQLAlchemy Core, declared onto ``schema.metadata``).

Every query the API makes is scoped to one portal, so every index starts with
``portal_id``: a ``voximplant.statistic.get`` page reads ``(portal_id, id)`` and costs
what the portal's own calls cost, however many calls the database holds. Row ids are
unique across the server (``ID``, ``FILE_ID`` and ``TRANSCRIPT_ID`` are not numbered per
portal).
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

# FILTER values are bound as 64-bit integers: the filterable columns are BIGINT on
# PostgreSQL (the row id too; SQLite's rowid is 64-bit already).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class CallTables(NamedTuple):
    calls: sa.Table
    call_statistics: sa.Table
    call_files: sa.Table
    call_transcripts: sa.Table


def _portal() -> sa.Column[int]:
    return sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    )


def define_call_tables(metadata: sa.MetaData) -> CallTables:
    # A call while it lives (registered, maybe answered); its end deletes the row.
    calls = sa.Table(
        "calls",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
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
        # The re-registration check: the same user calling the same number.
        sa.Index("ix_calls_recent", "portal_id", "user_id", "phone_number"),
        sqlite_autoincrement=True,
    )
    # One row per ended call: what voximplant.statistic.get lists.
    call_statistics = sa.Table(
        "call_statistics",
        metadata,
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _portal(),
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
        # Pages of one portal in ID order (the default) and their COUNT.
        sa.Index("ix_call_statistics_page", "portal_id", "id"),
        sqlite_autoincrement=True,
    )
    # Recording files (the bytes are in the record directory, named by id).
    call_files = sa.Table(
        "call_files",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("source_url", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Index("ix_call_files_call", "portal_id", "call_id"),
        sqlite_autoincrement=True,
    )
    # Transcripts of ended calls (telephony.call.attachTranscription): messages as JSON.
    call_transcripts = sa.Table(
        "call_transcripts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("messages", sa.Text, nullable=False),
        sa.Column("cost", sa.Numeric(18, 4), nullable=True),
        sa.Column("cost_currency", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Index("ix_call_transcripts_call", "portal_id", "call_id"),
        sqlite_autoincrement=True,
    )
    return CallTables(calls, call_statistics, call_files, call_transcripts)
