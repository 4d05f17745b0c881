-- Live rooms. Keep in step with migrations/sqlite/0005_live.sql.
CREATE TABLE live_rooms (
    id            CHAR(11) PRIMARY KEY,
    owner_id      BIGINT NOT NULL,
    title         VARCHAR(200) NOT NULL,
    description   TEXT NOT NULL,
    visibility    VARCHAR(16) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    key_hash      CHAR(64) NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    ended_at      BIGINT,
    recording_id  CHAR(11),
    UNIQUE INDEX live_rooms_key (key_hash),
    INDEX live_rooms_owner (owner_id),
    INDEX live_rooms_status (status, started_at),
    FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
