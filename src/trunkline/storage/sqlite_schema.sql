-- The newest schema of a new SQLite database, in one transaction: what `alembic upgrade
-- head` makes. Generated from storage/schema.py by scripts/sqlite-schema; do not edit.
-- tests/storage/test_fresh_schema.py checks it against the migrations.
-- revision: 0022

CREATE TABLE portals (
    id INTEGER NOT NULL,
    domain VARCHAR(255) NOT NULL,
    member_id VARCHAR(64) NOT NULL,
    title VARCHAR(255) DEFAULT '' NOT NULL,
    timezone VARCHAR(64) DEFAULT 'UTC' NOT NULL,
    language VARCHAR(8) DEFAULT 'en' NOT NULL,
    license VARCHAR(64) DEFAULT 'en_project' NOT NULL,
    last_config_id BIGINT DEFAULT '0' NOT NULL,
    last_reg_id BIGINT DEFAULT '150000' NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (domain),
    UNIQUE (member_id)
);

CREATE TABLE apps (
    id INTEGER NOT NULL,
    client_id VARCHAR(64) NOT NULL,
    secret_hash VARCHAR(64) NOT NULL,
    title VARCHAR(255) DEFAULT '' NOT NULL,
    code VARCHAR(128) NOT NULL,
    version INTEGER DEFAULT '1' NOT NULL,
    status VARCHAR(1) DEFAULT 'L' NOT NULL,
    scopes TEXT DEFAULT '' NOT NULL,
    handler_url TEXT DEFAULT '' NOT NULL,
    redirect_uri TEXT DEFAULT '' NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (client_id)
);

CREATE TABLE processes (
    id INTEGER NOT NULL,
    role VARCHAR(16) NOT NULL,
    node VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    data TEXT DEFAULT '{}' NOT NULL,
    started_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE engine_nodes (
    id VARCHAR(64) NOT NULL,
    address VARCHAR(255) DEFAULT '' NOT NULL,
    started_at FLOAT NOT NULL,
    lease_until FLOAT NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE engine_buckets (
    bucket INTEGER NOT NULL,
    node VARCHAR(64),
    token BIGINT DEFAULT '0' NOT NULL,
    previous VARCHAR(64),
    PRIMARY KEY (bucket)
);

CREATE TABLE snapshots (
    id INTEGER NOT NULL,
    domain VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at FLOAT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_snapshots_name UNIQUE (domain, name)
);

CREATE TABLE requests (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at FLOAT NOT NULL,
    portal VARCHAR(255),
    principal VARCHAR(255),
    user_id INTEGER,
    method VARCHAR(255) NOT NULL,
    params TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    error_code VARCHAR(255),
    duration_ms FLOAT NOT NULL,
    batch BOOLEAN DEFAULT 0 NOT NULL
);

CREATE INDEX ix_requests_method ON requests (method);

CREATE TABLE operator_values (
    name VARCHAR(64) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name)
);

CREATE TABLE event_journal (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    outbox_id INTEGER,
    install_id INTEGER,
    binding_id INTEGER,
    app_id VARCHAR(64) DEFAULT '' NOT NULL,
    event VARCHAR(255) NOT NULL,
    handler TEXT DEFAULT '' NOT NULL,
    attempt INTEGER DEFAULT '0' NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    status INTEGER,
    reason TEXT DEFAULT '' NOT NULL,
    duration_ms FLOAT DEFAULT '0' NOT NULL,
    at FLOAT NOT NULL
);

CREATE INDEX ix_event_journal_event ON event_journal (event, outcome) WHERE outcome <> 'refused';

CREATE INDEX ix_event_journal_outbox ON event_journal (outbox_id);

CREATE INDEX ix_event_journal_portal ON event_journal (portal_id, id);

CREATE TABLE users (
    portal_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    login VARCHAR(255) NOT NULL,
    name VARCHAR(255) DEFAULT '' NOT NULL,
    last_name VARCHAR(255) DEFAULT '' NOT NULL,
    is_admin BOOLEAN DEFAULT 0 NOT NULL,
    line_modify BOOLEAN DEFAULT 0 NOT NULL,
    active BOOLEAN DEFAULT 1 NOT NULL,
    created_at FLOAT NOT NULL,
    phone_inner VARCHAR(32),
    email VARCHAR(255) DEFAULT '' NOT NULL,
    PRIMARY KEY (portal_id, user_id),
    CONSTRAINT uq_users_login UNIQUE (portal_id, login),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_users_phone_inner ON users (portal_id, phone_inner);

CREATE TABLE lines (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    line_id BIGINT NOT NULL,
    config_id BIGINT NOT NULL,
    app_id VARCHAR(128) DEFAULT '' NOT NULL,
    type VARCHAR(16) NOT NULL,
    title VARCHAR(255),
    server VARCHAR(255),
    login VARCHAR(255),
    password TEXT,
    incoming_server VARCHAR(255),
    incoming_login VARCHAR(255),
    incoming_password TEXT,
    auth_user VARCHAR(255),
    outbound_proxy VARCHAR(255),
    detect_line_number VARCHAR(1) DEFAULT 'N' NOT NULL,
    line_detect_header_order VARCHAR(32) DEFAULT 'diversion;to' NOT NULL,
    reg_id BIGINT DEFAULT '0' NOT NULL,
    registration_status_code BIGINT,
    registration_error_message TEXT,
    registration_updated_at FLOAT,
    created_at FLOAT NOT NULL,
    registration_result VARCHAR(16),
    version BIGINT DEFAULT '1' NOT NULL,
    incoming_algorithm VARCHAR(16) DEFAULT 'MD5' NOT NULL,
    CONSTRAINT uq_lines_config UNIQUE (portal_id, config_id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_lines_cloud ON lines (portal_id, config_id, reg_id) WHERE type = 'cloud';

CREATE INDEX ix_lines_office_digest ON lines (incoming_login) WHERE type = 'office' AND incoming_algorithm <> 'MD5';

CREATE INDEX ix_lines_office_login ON lines (incoming_login) WHERE type = 'office';

CREATE INDEX ix_lines_scope ON lines (portal_id, app_id, config_id, version);

CREATE UNIQUE INDEX uq_lines_title ON lines (portal_id, title) WHERE title IS NOT NULL AND title <> '';

CREATE TABLE bindings (
    id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    config_id BIGINT NOT NULL,
    contact TEXT NOT NULL,
    received_host VARCHAR(255) NOT NULL,
    received_port INTEGER NOT NULL,
    transport VARCHAR(8) NOT NULL,
    call_id VARCHAR(255) DEFAULT '' NOT NULL,
    cseq BIGINT DEFAULT '0' NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    expires_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    instance_id VARCHAR(255) DEFAULT '' NOT NULL,
    reg_id INTEGER DEFAULT '0' NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_bindings_contact UNIQUE (portal_id, config_id, contact),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_bindings_expiry ON bindings (expires_at);

CREATE TABLE portal_options (
    portal_id INTEGER NOT NULL,
    name VARCHAR(64) NOT NULL,
    value TEXT DEFAULT '' NOT NULL,
    PRIMARY KEY (portal_id, name),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE app_installs (
    id INTEGER NOT NULL,
    app_id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    active BOOLEAN DEFAULT 1 NOT NULL,
    allowed_users TEXT DEFAULT '' NOT NULL,
    application_token TEXT,
    installed_by INTEGER,
    installed_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_app_installs UNIQUE (portal_id, app_id),
    FOREIGN KEY(app_id) REFERENCES apps (id) ON DELETE CASCADE,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE connectors (
    portal_id INTEGER NOT NULL,
    free_minutes BIGINT DEFAULT '0' NOT NULL,
    paid BOOLEAN DEFAULT 0 NOT NULL,
    paid_until FLOAT,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (portal_id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE portal_states (
    portal_id INTEGER NOT NULL,
    "plan" VARCHAR(16) DEFAULT 'standard' NOT NULL,
    limits VARCHAR(8) DEFAULT 'default' NOT NULL,
    blocked BOOLEAN DEFAULT 0 NOT NULL,
    closed BOOLEAN DEFAULT 0 NOT NULL,
    hold TEXT DEFAULT '' NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (portal_id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE faults (
    id INTEGER NOT NULL,
    portal_id INTEGER,
    method VARCHAR(255),
    kind VARCHAR(32) NOT NULL,
    remaining INTEGER,
    share FLOAT,
    latency_ms INTEGER DEFAULT '0' NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE calls (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    call_type INTEGER NOT NULL,
    origin VARCHAR(16) NOT NULL,
    line_kind VARCHAR(16) NOT NULL,
    portal_number VARCHAR(255) NOT NULL,
    line_id INTEGER,
    user_id INTEGER NOT NULL,
    phone_number VARCHAR(255) NOT NULL,
    started_at FLOAT NOT NULL,
    rest_app_id INTEGER,
    rest_app_name VARCHAR(255),
    external_call_id VARCHAR(255),
    portal_user_id INTEGER,
    crm_enabled BOOLEAN DEFAULT 1 NOT NULL,
    crm_entity_type VARCHAR(16),
    crm_entity_id INTEGER,
    crm_bindings TEXT DEFAULT '' NOT NULL,
    crm_created TEXT DEFAULT '' NOT NULL,
    lead_error TEXT,
    answered_at FLOAT,
    answered_by INTEGER,
    session_id BIGINT,
    redial_attempt INTEGER,
    comment TEXT,
    call_list_id INTEGER,
    created_at FLOAT NOT NULL,
    CONSTRAINT uq_calls_call_id UNIQUE (portal_id, call_id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_calls_recent ON calls (portal_id, user_id, phone_number);

CREATE TABLE call_statistics (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    external_call_id VARCHAR(255),
    category VARCHAR(16) NOT NULL,
    origin VARCHAR(16) NOT NULL,
    portal_user_id BIGINT NOT NULL,
    portal_number VARCHAR(255) NOT NULL,
    phone_number VARCHAR(255) NOT NULL,
    call_type BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    started_at FLOAT NOT NULL,
    call_log TEXT,
    record_url TEXT,
    vote BIGINT,
    cost NUMERIC(18, 4) DEFAULT '0' NOT NULL,
    cost_currency VARCHAR(16) DEFAULT '' NOT NULL,
    failed_code VARCHAR(255) DEFAULT '' NOT NULL,
    failed_reason TEXT DEFAULT '' NOT NULL,
    crm_entity_type VARCHAR(16),
    crm_entity_id BIGINT,
    crm_activity_id BIGINT,
    rest_app_id BIGINT,
    rest_app_name VARCHAR(255),
    transcript_id BIGINT,
    transcript_pending VARCHAR(1) DEFAULT 'N' NOT NULL,
    session_id BIGINT,
    redial_attempt BIGINT,
    comment TEXT,
    record_duration BIGINT,
    record_file_id INTEGER,
    line_id INTEGER,
    crm_created TEXT DEFAULT '' NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT uq_call_statistics_call_id UNIQUE (portal_id, call_id),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_call_statistics_page ON call_statistics (portal_id, id);

CREATE TABLE call_files (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    content_type VARCHAR(64) NOT NULL,
    path TEXT NOT NULL,
    source_url TEXT,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_call_files_call ON call_files (portal_id, call_id);

CREATE TABLE call_transcripts (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    messages TEXT NOT NULL,
    cost NUMERIC(18, 4),
    cost_currency VARCHAR(16),
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_call_transcripts_call ON call_transcripts (portal_id, call_id);

CREATE TABLE external_lines (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    app_key INTEGER DEFAULT '0' NOT NULL,
    number VARCHAR(50) NOT NULL,
    name VARCHAR(255) DEFAULT '' NOT NULL,
    crm_auto_create VARCHAR(1) DEFAULT 'Y' NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT uq_external_lines_number UNIQUE (portal_id, app_key, number),
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE TABLE call_uploads (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    filename VARCHAR(255) NOT NULL,
    expires_at FLOAT NOT NULL,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE,
    UNIQUE (token_hash)
);

CREATE TABLE registration_history (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    config_id BIGINT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    at FLOAT NOT NULL,
    from_state VARCHAR(32) NOT NULL,
    to_state VARCHAR(32) NOT NULL,
    from_code INTEGER,
    status_code INTEGER,
    reason VARCHAR(255) DEFAULT '' NOT NULL,
    messages TEXT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_registration_history_line ON registration_history (portal_id, config_id, id);

CREATE TABLE crm_entities (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    entity_type VARCHAR(16) NOT NULL,
    name VARCHAR(255) DEFAULT '' NOT NULL,
    assigned_by INTEGER NOT NULL,
    source VARCHAR(64) DEFAULT '' NOT NULL,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE
);

CREATE INDEX ix_crm_entities_portal ON crm_entities (portal_id, entity_type, id);

CREATE TABLE webhooks (
    id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    title VARCHAR(255) DEFAULT '' NOT NULL,
    scopes TEXT DEFAULT '' NOT NULL,
    active BOOLEAN DEFAULT 1 NOT NULL,
    expires_at FLOAT,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(portal_id, user_id) REFERENCES users (portal_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE,
    UNIQUE (code_hash)
);

CREATE TABLE user_phones (
    portal_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    phone_enabled VARCHAR(1),
    sip_password TEXT,
    default_line VARCHAR(64),
    PRIMARY KEY (portal_id, user_id),
    FOREIGN KEY(portal_id, user_id) REFERENCES users (portal_id, user_id) ON DELETE CASCADE
);

CREATE INDEX ix_user_phones_user ON user_phones (user_id);

CREATE TABLE phone_bindings (
    id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    contact TEXT NOT NULL,
    received_host VARCHAR(255) NOT NULL,
    received_port INTEGER NOT NULL,
    transport VARCHAR(8) NOT NULL,
    call_id VARCHAR(255) DEFAULT '' NOT NULL,
    cseq BIGINT DEFAULT '0' NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    expires_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    instance_id VARCHAR(255) DEFAULT '' NOT NULL,
    reg_id INTEGER DEFAULT '0' NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(portal_id, user_id) REFERENCES users (portal_id, user_id) ON DELETE CASCADE,
    CONSTRAINT uq_phone_bindings_contact UNIQUE (portal_id, user_id, contact)
);

CREATE INDEX ix_phone_bindings_expiry ON phone_bindings (expires_at);

CREATE TABLE oauth_codes (
    code_hash VARCHAR(64) NOT NULL,
    install_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    expires_at FLOAT NOT NULL,
    PRIMARY KEY (code_hash),
    FOREIGN KEY(install_id) REFERENCES app_installs (id) ON DELETE CASCADE
);

CREATE INDEX ix_oauth_codes_expiry ON oauth_codes (expires_at);

CREATE TABLE oauth_tokens (
    id INTEGER NOT NULL,
    install_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    access_hash VARCHAR(64) NOT NULL,
    refresh_hash VARCHAR(64) NOT NULL,
    scopes TEXT DEFAULT '' NOT NULL,
    access_expires_at FLOAT NOT NULL,
    refresh_expires_at FLOAT NOT NULL,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(install_id) REFERENCES app_installs (id) ON DELETE CASCADE,
    UNIQUE (access_hash),
    UNIQUE (refresh_hash)
);

CREATE INDEX ix_oauth_tokens_expiry ON oauth_tokens (refresh_expires_at);

CREATE INDEX ix_oauth_tokens_install ON oauth_tokens (install_id);

CREATE TABLE user_passwords (
    portal_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    password_hash TEXT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (portal_id, user_id),
    FOREIGN KEY(portal_id, user_id) REFERENCES users (portal_id, user_id) ON DELETE CASCADE
);

CREATE TABLE event_bindings (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    install_id INTEGER NOT NULL,
    event VARCHAR(255) NOT NULL,
    handler TEXT NOT NULL,
    auth_type INTEGER DEFAULT '0' NOT NULL,
    event_type VARCHAR(8) DEFAULT 'online' NOT NULL,
    auth_connector VARCHAR(255) DEFAULT '' NOT NULL,
    options TEXT DEFAULT '{}' NOT NULL,
    user_id INTEGER DEFAULT '0' NOT NULL,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE,
    FOREIGN KEY(install_id) REFERENCES app_installs (id) ON DELETE CASCADE
);

CREATE INDEX ix_event_bindings_event ON event_bindings (portal_id, event);

CREATE TABLE event_outbox (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    install_id INTEGER NOT NULL,
    binding_id INTEGER,
    event VARCHAR(255) NOT NULL,
    handler TEXT NOT NULL,
    user_id INTEGER DEFAULT '0' NOT NULL,
    data TEXT NOT NULL,
    sealed_auth TEXT,
    attempts INTEGER DEFAULT '0' NOT NULL,
    due_at FLOAT NOT NULL,
    claim VARCHAR(32),
    claimed_until FLOAT,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE,
    FOREIGN KEY(install_id) REFERENCES app_installs (id) ON DELETE CASCADE
);

CREATE INDEX ix_event_outbox_due ON event_outbox (due_at);

CREATE TABLE event_offline (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    portal_id INTEGER NOT NULL,
    install_id INTEGER NOT NULL,
    binding_id INTEGER,
    event VARCHAR(255) NOT NULL,
    data TEXT NOT NULL,
    additional TEXT DEFAULT '' NOT NULL,
    message_id VARCHAR(32) NOT NULL,
    auth_connector VARCHAR(255) DEFAULT '' NOT NULL,
    process_id VARCHAR(32),
    error BOOLEAN DEFAULT 0 NOT NULL,
    created_at FLOAT NOT NULL,
    FOREIGN KEY(portal_id) REFERENCES portals (id) ON DELETE CASCADE,
    FOREIGN KEY(install_id) REFERENCES app_installs (id) ON DELETE CASCADE
);

CREATE INDEX ix_event_offline_install ON event_offline (install_id, id);

CREATE TABLE crm_phones (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    entity_id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    phone VARCHAR(64) NOT NULL,
    digits VARCHAR(64) NOT NULL,
    FOREIGN KEY(entity_id) REFERENCES crm_entities (id) ON DELETE CASCADE
);

CREATE INDEX ix_crm_phones_digits ON crm_phones (portal_id, digits);

CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));

INSERT INTO alembic_version VALUES ('0022');

