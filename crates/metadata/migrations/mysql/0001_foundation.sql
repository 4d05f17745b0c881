-- Foundation schema (MySQL/MariaDB). Keep in step with migrations/sqlite/0001_foundation.sql:
-- same tables, columns and meaning; only the dialect differs.
-- Timestamps are Unix milliseconds (BIGINT) so one code path reads both engines.
-- Tables use utf8mb4_bin (ids are case-sensitive). No TEXT columns: sqlx's Any driver decodes
-- MySQL TEXT as bytes, so long strings are bounded VARCHARs (the API enforces the same limits).
CREATE TABLE users (
    id            BIGINT PRIMARY KEY AUTO_INCREMENT,
    name          VARCHAR(64) NOT NULL UNIQUE,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    used_bytes    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE api_tokens (
    id            BIGINT PRIMARY KEY AUTO_INCREMENT,
    user_id       BIGINT NOT NULL,
    token_hash    CHAR(64) NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE blobs (
    hash          CHAR(64) PRIMARY KEY,
    storage_key   VARCHAR(255) NOT NULL,
    size_bytes    BIGINT NOT NULL,
    refcount      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE videos (
    id            CHAR(11) PRIMARY KEY,
    owner_id      BIGINT NOT NULL,
    title         VARCHAR(200) NOT NULL,
    description   VARCHAR(5000) NOT NULL,
    tags          VARCHAR(2000) NOT NULL,
    category      VARCHAR(64) NOT NULL DEFAULT '',
    visibility    VARCHAR(16) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    duration_ms   BIGINT,
    width         BIGINT,
    height        BIGINT,
    blake3        CHAR(64),
    size_bytes    BIGINT,
    error         VARCHAR(2000),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    INDEX videos_owner_hash (owner_id, blake3),
    INDEX videos_status (status, created_at),
    FOREIGN KEY (owner_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE uploads (
    id               CHAR(22) PRIMARY KEY,
    owner_id         BIGINT NOT NULL,
    video_id         CHAR(11) NOT NULL,
    length           BIGINT,
    upload_offset    BIGINT NOT NULL DEFAULT 0,
    reserved_bytes   BIGINT NOT NULL DEFAULT 0,
    metadata         VARCHAR(4000) NOT NULL,
    announced_blake3 CHAR(64),
    final_blake3     CHAR(64),
    hash_state       BLOB NOT NULL,
    state            VARCHAR(16) NOT NULL,
    proof_nonce      CHAR(64),
    proof_ranges     VARCHAR(512),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    INDEX uploads_owner_hash (owner_id, announced_blake3),
    INDEX uploads_state_expiry (state, expires_at),
    FOREIGN KEY (owner_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE jobs (
    id            BIGINT PRIMARY KEY AUTO_INCREMENT,
    kind          VARCHAR(32) NOT NULL,
    video_id      CHAR(11) NOT NULL,
    state         VARCHAR(16) NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    run_after     BIGINT NOT NULL,
    last_error    VARCHAR(2000),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE KEY jobs_kind_video (kind, video_id),
    INDEX jobs_runnable (state, run_after)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
