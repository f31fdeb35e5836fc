-- pwreset's initial schema (SQLite). Table and column names follow Cloudreve's.
-- Every timestamp is UTC.

CREATE TABLE groups (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT    NOT NULL,
    permissions            BLOB    NOT NULL,
    direct_link_batch_size BIGINT  NOT NULL DEFAULT 0,
    trash_retention        BIGINT  NOT NULL DEFAULT 0,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups (name);

-- Cloudreve V4's default groups (as its installer creates them);
-- crates/infra/src/defaults.rs holds the same rows.
INSERT INTO groups (id, name, permissions, direct_link_batch_size, trash_retention, created_at, updated_at) VALUES
    (1, 'Admin',     X'FD1A01', 1000, 604800, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    (2, 'User',      X'8408',   10, 604800, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    (3, 'Anonymous', X'82',      0,      0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- AUTOINCREMENT: ids (and so public hashids) are never reused after a delete.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT    NOT NULL,
    nick           TEXT    NOT NULL,
    password       TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'inactive', 'manual_banned', 'sys_banned')),
    avatar         TEXT,
    credit         BIGINT,
    settings       TEXT,
    group_id       BIGINT  NOT NULL REFERENCES groups (id),
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    security_stamp TEXT    NOT NULL
);
-- Addresses are unique and looked up case-insensitively.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE settings (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    name  TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX settings_name ON settings (name);

-- Only the SHA-256 digest of a secret is stored.
CREATE TABLE reset_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     BLOB    NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX reset_tokens_digest ON reset_tokens (digest);
CREATE INDEX reset_tokens_user ON reset_tokens (user_id);
CREATE INDEX reset_tokens_expires_at ON reset_tokens (expires_at);

-- No foreign key on user_id: the trail outlives deleted users.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL,
    user_id        BIGINT,
    client_ip      TEXT,
    user_agent     TEXT,
    correlation_id TEXT,
    detail         TEXT,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_created_at ON audit_events (created_at);
CREATE INDEX audit_events_user ON audit_events (user_id, created_at);
