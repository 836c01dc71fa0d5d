"""Table definitions (SQLAlchemy Core); Alembic migrations are written against these.

Every query the API can make is scoped to one portal, and the listing queries to
one portal and one application, so every index starts with ``portal_id``: a call
costs what the caller's own lines cost, however many lines the database holds.
"""

from __future__ import annotations

import sqlalchemy as sa

from trunkline.storage.call_schema import define_call_tables
from trunkline.storage.control_schema import define_control_tables
from trunkline.storage.crm_schema import define_crm_tables
from trunkline.storage.event_schema import define_event_tables
from trunkline.storage.external_schema import define_external_tables, define_uploads_table
from trunkline.storage.mark_schema import create_statements

metadata = sa.MetaData()

portals = sa.Table(
    "portals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(255), nullable=False, unique=True),
    sa.Column("member_id", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(255), nullable=False, server_default=""),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("language", sa.String(8), nullable=False, server_default="en"),
    sa.Column("license", sa.String(64), nullable=False, server_default="en_project"),
    # Counters behind CONFIG_ID/ID and REG_ID: each portal numbers its own lines,
    # as each real portal has a database of its own.
    sa.Column("last_config_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_reg_id", sa.BigInteger, nullable=False, server_default="150000"),
    sa.Column("created_at", sa.Float, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("login", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("last_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("line_modify", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("phone_inner", sa.String(32), nullable=True),  # UF_PHONE_INNER
    sa.Column("email", sa.String(255), nullable=False, server_default=""),
    sa.UniqueConstraint("portal_id", "login", name="uq_users_login"),
    sa.Index("ix_users_phone_inner", "portal_id", "phone_inner"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", sa.Integer, nullable=False),
    # sha256 of the secret code: the code itself is shown once and never stored.
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(255), nullable=False, server_default=""),
    sa.Column("scopes", sa.Text, nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.ForeignKeyConstraint(
        ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
    ),
)

lines = sa.Table(
    "lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("line_id", sa.BigInteger, nullable=False),
    sa.Column("config_id", sa.BigInteger, nullable=False),
    sa.Column("app_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("title", sa.String(255), nullable=True),
    sa.Column("server", sa.String(255), nullable=True),
    sa.Column("login", sa.String(255), nullable=True),
    sa.Column("password", sa.Text, nullable=True),  # encrypted (storage/secrets.py)
    sa.Column("incoming_server", sa.String(255), nullable=True),
    sa.Column("incoming_login", sa.String(255), nullable=True),
    sa.Column("incoming_password", sa.Text, nullable=True),  # encrypted
    sa.Column("auth_user", sa.String(255), nullable=True),
    sa.Column("outbound_proxy", sa.String(255), nullable=True),
    sa.Column("detect_line_number", sa.String(1), nullable=False, server_default="N"),
    sa.Column(
        "line_detect_header_order", sa.String(32), nullable=False, server_default="diversion;to"
    ),
    sa.Column("reg_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("registration_status_code", sa.BigInteger, nullable=True),
    sa.Column("registration_error_message", sa.Text, nullable=True),
    sa.Column("registration_updated_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("registration_result", sa.String(16), nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    # Digest algorithm the office registrar challenges the line with (migration 0007).
    sa.Column("incoming_algorithm", sa.String(16), nullable=False, server_default="MD5"),
    sa.UniqueConstraint("portal_id", "config_id", name="uq_lines_config"),
    # version too: a page is read as (id, version) pairs from this index alone.
    sa.Index("ix_lines_scope", "portal_id", "app_id", "config_id", "version"),
    # Every other filter (TYPE, SERVER, LOGIN, status, ...) is answered inside the caller's
    # scope from ix_lines_scope: a portal holds a few hundred lines at most, and each index
    # costs every sip.add a B-tree insert (four fewer indexes halved an insert, migration 0006).
    sa.Index(
        "uq_lines_title",
        "portal_id",
        "title",
        unique=True,
        sqlite_where=sa.text("title IS NOT NULL AND title <> ''"),
        postgresql_where=sa.text("title IS NOT NULL AND title <> ''"),
    ),
    # Cloud lines only: the engine's scans, the 10-line cap and sip.status by REG_ID.
    sa.Index(
        "ix_lines_cloud",
        "portal_id",
        "config_id",
        "reg_id",
        sqlite_where=sa.text("type = 'cloud'"),
        postgresql_where=sa.text("type = 'cloud'"),
    ),
    # Office lines only: the registrar finds a line by the login a PBX registers with.
    sa.Index(
        "ix_lines_office_login",
        "incoming_login",
        sqlite_where=sa.text("type = 'office'"),
        postgresql_where=sa.text("type = 'office'"),
    ),
    # Office lines opted in to another digest than MD5: the registrar reads them at each poll.
    sa.Index(
        "ix_lines_office_digest",
        "incoming_login",
        sqlite_where=sa.text("type = 'office' AND incoming_algorithm <> 'MD5'"),
        postgresql_where=sa.text("type = 'office' AND incoming_algorithm <> 'MD5'"),
    ),
    # Committed row ids are never reused (readers cache decoded rows by id and version;
    # a rolled-back insert gives its id back, and they forget everything then).
    sqlite_autoincrement=True,
)

# Office PBXs registered to Trunkline: one row per contact of a line.
bindings = sa.Table(
    "bindings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("config_id", sa.BigInteger, nullable=False),
    sa.Column("contact", sa.Text, nullable=False),
    sa.Column("received_host", sa.String(255), nullable=False),
    sa.Column("received_port", sa.Integer, nullable=False),
    sa.Column("transport", sa.String(8), nullable=False),
    sa.Column("call_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("cseq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # RFC 5626 +sip.instance and reg-id of the Contact ("" and 0 when absent; migration 0007).
    sa.Column("instance_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("reg_id", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("portal_id", "config_id", "contact", name="uq_bindings_contact"),
    sa.Index("ix_bindings_expiry", "expires_at"),
)

# -- built-in telephony (migration 0014) ------------------------------------------

# A portal's telephony options by name: ``outgoing_line`` is the default outgoing line
# (voximplant.line.outgoing.*), kept as set even when that line is deleted.
portal_options = sa.Table(
    "portal_options",
    metadata,
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False, server_default=""),
)

# A user's SIP phone (voximplant.user.*): PHONE_ENABLED "Y"/"N" (NULL: never set), the SIP
# password (encrypted at rest; NULL until the phone is first activated) and DEFAULT_LINE.
user_phones = sa.Table(
    "user_phones",
    metadata,
    sa.Column("portal_id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("phone_enabled", sa.String(1), nullable=True),
    sa.Column("sip_password", sa.Text, nullable=True),
    sa.Column("default_line", sa.String(64), nullable=True),
    sa.ForeignKeyConstraint(
        ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
    ),
    sa.Index("ix_user_phones_user", "user_id"),  # the registrar's lookup (migration 0019)
)

# The registered contacts of users' phones (login phone<USER_ID>), as `bindings` is for
# office lines.
phone_bindings = sa.Table(
    "phone_bindings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("portal_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("contact", sa.Text, nullable=False),
    sa.Column("received_host", sa.String(255), nullable=False),
    sa.Column("received_port", sa.Integer, nullable=False),
    sa.Column("transport", sa.String(8), nullable=False),
    sa.Column("call_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("cseq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("instance_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("reg_id", sa.Integer, nullable=False, server_default="0"),
    sa.ForeignKeyConstraint(
        ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
    ),
    sa.UniqueConstraint("portal_id", "user_id", "contact", name="uq_phone_bindings_contact"),
    sa.Index("ix_phone_bindings_expiry", "expires_at"),
)

# -- OAuth applications (migration 0003) -----------------------------------------

# Registered applications. Only a SHA-256 of the client secret is kept: secrets
# are long random strings made here, so a fast hash is enough (no guessing).
apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.String(255), nullable=False, server_default=""),
    sa.Column("code", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(1), nullable=False, server_default="L"),
    sa.Column("scopes", sa.Text, nullable=False, server_default=""),
    sa.Column("handler_url", sa.Text, nullable=False, server_default=""),
    sa.Column("redirect_uri", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

# An application installed on a portal; `allowed_users` is a comma list of user
# ids (empty: every user of the portal may use it).
app_installs = sa.Table(
    "app_installs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("allowed_users", sa.Text, nullable=False, server_default=""),
    sa.Column("application_token", sa.Text, nullable=True),  # encrypted
    sa.Column("installed_by", sa.Integer, nullable=True),
    sa.Column("installed_at", sa.Float, nullable=False),
    sa.UniqueConstraint("portal_id", "app_id", name="uq_app_installs"),
)

# Authorization codes (30 s, single use) and token pairs, both by SHA-256 only.
oauth_codes = sa.Table(
    "oauth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column(
        "install_id",
        sa.Integer,
        sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_oauth_codes_expiry", "expires_at"),
)

oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "install_id",
        sa.Integer,
        sa.ForeignKey("app_installs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("access_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.Text, nullable=False, server_default=""),
    sa.Column("access_expires_at", sa.Float, nullable=False),
    sa.Column("refresh_expires_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_oauth_tokens_install", "install_id"),
    sa.Index("ix_oauth_tokens_expiry", "refresh_expires_at"),
)

# Sign-in passwords of portal users (argon2id hashes).
user_passwords = sa.Table(
    "user_passwords",
    metadata,
    sa.Column("portal_id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.ForeignKeyConstraint(
        ["portal_id", "user_id"], ["users.portal_id", "users.user_id"], ondelete="CASCADE"
    ),
)

# State of each portal's paid SIP connector (voximplant.sip.connector.status).
connectors = sa.Table(
    "connectors",
    metadata,
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("free_minutes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("paid", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("paid_until", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- limits and operator controls (migration 0004) ------------------------------

# What an operator set for a portal (limits/states.py); no row: the defaults.
portal_states = sa.Table(
    "portal_states",
    metadata,
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("plan", sa.String(16), nullable=False, server_default="standard"),
    sa.Column("limits", sa.String(8), nullable=False, server_default="default"),
    sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("hold", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Injected faults (limits/faults.py); `remaining` counts down across every worker.
faults = sa.Table(
    "faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("method", sa.String(255), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("remaining", sa.Integer, nullable=True),
    sa.Column("share", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
)

# -- telephony (migration 0009): calls, statistics, records, transcripts ------------

calls, call_statistics, call_files, call_transcripts = define_call_tables(metadata)

# -- the running processes (migration 0010) --------------------------------------------

# The running server and engine processes of this database (storage/processes.py): where
# the CLI finds the server's public URL, and what /health and `engine status` show.
processes = sa.Table(
    "processes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- external telephony (migration 0011): the lines of applications -----------------

external_lines = define_external_tables(metadata)

# -- cluster ownership of cloud lines (migration 0012) -----------------------------------

# PostgreSQL only (storage/cluster.py): each live engine node and its lease, and each hash
# bucket of cloud lines with its owner and fencing token.
engine_nodes = sa.Table(
    "engine_nodes",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(255), nullable=False, server_default=""),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
)

engine_buckets = sa.Table(
    "engine_buckets",
    metadata,
    sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("node", sa.String(64), nullable=True),
    sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("previous", sa.String(64), nullable=True),
)

# -- test control (migration 0013): snapshots, the request journal, operator values ------

snapshots, requests, operator_values = define_control_tables(metadata)

# -- recording uploads (migration 0015): attachRecord's upload URLs --------------------

call_uploads = define_uploads_table(metadata)

# -- outbound events (migration 0016): bindings, outbox, journal, offline queue ---------

event_bindings, event_outbox, event_journal, event_offline = define_event_tables(metadata)

# -- registration history (migration 0017): each line's changes of state ---------------

registration_history = sa.Table(
    "registration_history",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "portal_id", sa.Integer, sa.ForeignKey("portals.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("config_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # cloud, office
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("from_state", sa.String(32), nullable=False),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("from_code", sa.Integer, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(255), nullable=False, server_default=""),
    sa.Column("messages", sa.Text, nullable=False),  # JSON: the transaction, secrets masked
    sa.Index("ix_registration_history_line", "portal_id", "config_id", "id"),
    sqlite_autoincrement=True,
)

# -- the minimal CRM (migration 0018): contacts, companies, leads and their phones ------

crm_entities, crm_phones = define_crm_tables(metadata)

# -- the caches' change counters (migration 0020, PostgreSQL only) ----------------------


@sa.event.listens_for(metadata, "after_create")
def _create_marks(target: sa.MetaData, connection: sa.Connection, **kw: object) -> None:
    """A fresh PostgreSQL schema gets the counters and triggers the migration installs."""
    if connection.dialect.name == "postgresql":
        for statement in create_statements():
            connection.exec_driver_sql(statement)
