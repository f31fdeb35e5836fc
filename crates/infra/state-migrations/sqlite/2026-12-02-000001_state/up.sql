-- pwreset's own state (tokens, audit trail, mail outbox) inside a database it
-- shares with another application's accounts (PWRESET_ACCOUNTS=cloudreve).
-- Every name carries the pwreset_ prefix, and nothing refers to the host's
-- tables: no foreign key, so the host may delete its users as it always has.
-- Tracked in pwreset_schema_migrations, not diesel's own table.

-- Only the SHA-256 digest of a secret is stored.
CREATE TABLE pwreset_reset_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT  NOT NULL,
    digest     BLOB    NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX pwreset_reset_tokens_digest ON pwreset_reset_tokens (digest);
CREATE INDEX pwreset_reset_tokens_user ON pwreset_reset_tokens (user_id);
CREATE INDEX pwreset_reset_tokens_expires_at ON pwreset_reset_tokens (expires_at);

CREATE TABLE pwreset_audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL,
    user_id        BIGINT,
    client_ip      TEXT,
    user_agent     TEXT,
    correlation_id TEXT,
    detail         TEXT,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX pwreset_audit_events_created_at ON pwreset_audit_events (created_at);
CREATE INDEX pwreset_audit_events_user ON pwreset_audit_events (user_id, created_at);

-- The durable mail outbox. Rows are written in the same transaction as the
-- token or password change they announce, and delivered by a background
-- worker. A reset-link email's bodies hold the secret: they are set to NULL
-- as soon as the message is delivered or given up.
CREATE TABLE pwreset_mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT,
    body_html       TEXT,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX pwreset_mail_outbox_due ON pwreset_mail_outbox (status, next_attempt_at);
