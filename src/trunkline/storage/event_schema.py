"""Tables of outbound events (SQLAlchemy Core, declared onto ``schema.metadata``).

* ``event_bindings``: the handlers ``event.bind`` registered, each belonging to one
  application install (``event_handler_id`` is the row id).
* ``event_outbox``: one row per (event, handler) still to deliver, written in the same
  transaction as the change that raised the event. A deliverer claims a row with an
  ``UPDATE`` (``claim`` and ``claimed_until``), posts it and deletes it together with its
  journal line; a row whose claim lapsed (its process died) is claimed again.
* ``event_journal``: every delivery attempt and every refusal, with its reason.
* ``event_offline``: the queue of offline events that ``event.offline.get`` takes.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from trunkline.storage.event_journal import ATTEMPTS


class EventTables(NamedTuple):
    event_bindings: sa.Table
    event_outbox: sa.Table
    event_journal: sa.Table
    event_offline: sa.Table


def _portal() -> sa.Column[int]:
    return sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    )


def _install(nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        "install_id",
        sa.Integer,
        sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
        nullable=nullable,
    )


def define_event_tables(metadata: sa.MetaData) -> EventTables:
    bindings = sa.Table(
        "event_bindings",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        _install(),
        sa.Column("event", sa.String(255), nullable=False),  # upper case
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("auth_type", sa.Integer, nullable=False, server_default="0"),
        sa.Column("event_type", sa.String(8), nullable=False, server_default="online"),
        sa.Column("auth_connector", sa.String(255), nullable=False, server_default=""),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Index("ix_event_bindings_event", "portal_id", "event"),
        sqlite_autoincrement=True,
    )
    outbox = sa.Table(
        "event_outbox",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _portal(),
        _install(),
        sa.Column("binding_id", sa.Integer, nullable=True),  # None: ONAPPINSTALL, ...
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("sealed_auth", sa.Text, nullable=True),  # a fixed auth block, encrypted
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Index("ix_event_outbox_due", "due_at"),
        sqlite_autoincrement=True,
    )
    journal = sa.Table(
        "event_journal",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # No foreign key: the journal outlives portals, resets and snapshot restores.
        sa.Column("portal_id", sa.Integer, nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("install_id", sa.Integer, nullable=True),
        sa.Column("binding_id", sa.Integer, nullable=True),
        sa.Column("app_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("handler", sa.Text, nullable=False, server_default=""),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.String(16), nullable=False),  # delivered|failed|refused|queued
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("duration_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("at", sa.Float, nullable=False),
        # Delivery attempts only: the "no binding" refusal of every unbound call event would
        # cost this index more than its own line (migration 0022; reads in event_journal.py).
        sa.Index(
            "ix_event_journal_event",
            "event",
            "outcome",
            sqlite_where=sa.text(ATTEMPTS),
            postgresql_where=sa.text(ATTEMPTS),
        ),
        sa.Index("ix_event_journal_portal", "portal_id", "id"),
        sa.Index("ix_event_journal_outbox", "outbox_id"),
        sqlite_autoincrement=True,
    )
    offline = sa.Table(
        "event_offline",
        metadata,
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
        sa.Index("ix_event_offline_install", "install_id", "id"),
        sqlite_autoincrement=True,
    )
    return EventTables(bindings, outbox, journal, offline)
