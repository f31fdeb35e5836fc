-- pwreset's initial schema (MySQL / MariaDB). Table and column names follow
-- Cloudreve's. Every timestamp is UTC. Text compares exactly (utf8mb4_bin),
-- except email addresses, which compare case-insensitively.

CREATE TABLE `groups` (
    id                     BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name                   VARCHAR(191) NOT NULL,
    permissions            VARBINARY(64) NOT NULL,
    direct_link_batch_size BIGINT       NOT NULL DEFAULT 0,
    trash_retention        BIGINT       NOT NULL DEFAULT 0,
    created_at             DATETIME(6)  NOT NULL,
    updated_at             DATETIME(6)  NOT NULL,
    UNIQUE KEY groups_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Cloudreve V4's default groups (as its installer creates them);
-- crates/infra/src/defaults.rs holds the same rows.
INSERT INTO `groups` (id, name, permissions, direct_link_batch_size, trash_retention, created_at, updated_at) VALUES
    (1, 'Admin',     X'FD1A01', 1000, 604800, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (2, 'User',      X'8408',   10, 604800, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (3, 'Anonymous', X'82',      0,      0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));

CREATE TABLE users (
    id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- Case-insensitive: the unique key and lookups ignore case, as Cloudreve
    -- on MySQL does (this collation also ignores accents).
    email          VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
    nick           VARCHAR(255) NOT NULL,
    password       VARCHAR(255) NOT NULL,
    status         VARCHAR(32)  NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'inactive', 'manual_banned', 'sys_banned')),
    avatar         VARCHAR(32),
    credit         BIGINT,
    settings       TEXT,
    group_id       BIGINT       NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    security_stamp VARCHAR(64)  NOT NULL,
    UNIQUE KEY users_email (email),
    CONSTRAINT users_group FOREIGN KEY (group_id) REFERENCES `groups` (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE settings (
    id    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name  VARCHAR(191) NOT NULL,
    value TEXT         NOT NULL,
    UNIQUE KEY settings_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Only the SHA-256 digest of a secret is stored.
CREATE TABLE reset_tokens (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    digest     VARBINARY(32) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at    DATETIME(6),
    revoked_at DATETIME(6),
    UNIQUE KEY reset_tokens_digest (digest),
    KEY reset_tokens_user (user_id),
    KEY reset_tokens_expires_at (expires_at),
    CONSTRAINT reset_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- No foreign key on user_id: the trail outlives deleted users.
CREATE TABLE audit_events (
    id             BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind           VARCHAR(32) NOT NULL,
    user_id        BIGINT,
    client_ip      VARCHAR(64),
    user_agent     TEXT,
    correlation_id VARCHAR(64),
    detail         TEXT,
    created_at     DATETIME(6) NOT NULL,
    KEY audit_events_created_at (created_at),
    KEY audit_events_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
