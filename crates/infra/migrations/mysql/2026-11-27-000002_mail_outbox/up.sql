-- The durable mail outbox. Rows are written in the same transaction as the
-- token or password change they announce, and delivered by a background
-- worker. A reset-link email's bodies hold the secret: they are set to NULL
-- as soon as the message is delivered or given up.
CREATE TABLE mail_outbox (
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
    KEY mail_outbox_due (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
