-- pwreset's own state (tokens, audit trail, mail outbox) inside a database it
-- shares with another application's accounts (PWRESET_ACCOUNTS=cloudreve).
-- Every name carries the pwreset_ prefix, and nothing refers to the host's
-- tables: no foreign key, so the host may delete its users as it always has.
-- Tracked in pwreset_schema_migrations, not diesel's own table.

-- Only the SHA-256 digest of a secret is stored.
CREATE TABLE pwreset_reset_tokens (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    digest     VARBINARY(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at    DATETIME(6),
    revoked_at DATETIME(6),
    UNIQUE KEY pwreset_reset_tokens_digest (digest),
    KEY pwreset_reset_tokens_user (user_id),
    KEY pwreset_reset_tokens_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE pwreset_audit_events (
    id             BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind           VARCHAR(32) NOT NULL,
    user_id        BIGINT,
    client_ip      VARCHAR(64),
    user_agent     TEXT,
    correlation_id VARCHAR(64),
    detail         TEXT,
    created_at     DATETIME(6) NOT NULL,
    KEY pwreset_audit_events_created_at (created_at),
    KEY pwreset_audit_events_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The durable mail outbox. Rows are written in the same transaction as the
-- token or password change they announce, and delivered by a background
-- worker. A reset-link email's bodies hold the secret: they are set to NULL
-- as soon as the message is delivered or given up.
CREATE TABLE pwreset_mail_outbox (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind            VARCHAR(32)  NOT NULL,
    recipient       VARCHAR(254) NOT NULL,
    subject         TEXT         NOT NULL,
    body_text       MEDIUMTEXT,
    body_html       MEDIUMTEXT,
    status          VARCHAR(16)  NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INT          NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)  NOT NULL,
    locked_until    DATETIME(6),
    last_error      TEXT,
    created_at      DATETIME(6)  NOT NULL,
    sent_at         DATETIME(6),
    KEY pwreset_mail_outbox_due (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
