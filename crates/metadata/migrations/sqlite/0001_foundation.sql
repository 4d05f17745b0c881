-- Foundation schema (SQLite). Keep in step with migrations/mysql/0001_foundation.sql:
-- same tables, columns and meaning; only the dialect differs.
-- Timestamps are Unix milliseconds (BIGINT) so one code path reads both engines.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          VARCHAR(64) NOT NULL UNIQUE,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    used_bytes    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    CHAR(64) NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE blobs (
    hash          CHAR(64) PRIMARY KEY,
    storage_key   VARCHAR(255) NOT NULL,
    size_bytes    INTEGER NOT NULL,
    refcount      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE videos (
    id            CHAR(11) PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES users(id),
    title         VARCHAR(200) NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    tags          TEXT NOT NULL DEFAULT '[]',
    category      VARCHAR(64) NOT NULL DEFAULT '',
    visibility    VARCHAR(16) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    duration_ms   INTEGER,
    width         INTEGER,
    height        INTEGER,
    blake3        CHAR(64),
    size_bytes    INTEGER,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX videos_owner_hash ON videos(owner_id, blake3);
CREATE INDEX videos_status ON videos(status, created_at);

CREATE TABLE uploads (
    id               CHAR(22) PRIMARY KEY,
    owner_id         INTEGER NOT NULL REFERENCES users(id),
    video_id         CHAR(11) NOT NULL,
    length           INTEGER,
    upload_offset    INTEGER NOT NULL DEFAULT 0,
    reserved_bytes   INTEGER NOT NULL DEFAULT 0,
    metadata         TEXT NOT NULL,
    announced_blake3 CHAR(64),
    final_blake3     CHAR(64),
    hash_state       BLOB NOT NULL,
    state            VARCHAR(16) NOT NULL,
    proof_nonce      CHAR(64),
    proof_ranges     TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX uploads_owner_hash ON uploads(owner_id, announced_blake3);
CREATE INDEX uploads_state_expiry ON uploads(state, expires_at);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          VARCHAR(32) NOT NULL,
    video_id      CHAR(11) NOT NULL,
    state         VARCHAR(16) NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_after     INTEGER NOT NULL,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (kind, video_id)
);
CREATE INDEX jobs_runnable ON jobs(state, run_after);
