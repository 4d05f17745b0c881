-- Live rooms. Keep in step with migrations/mysql/0005_live.sql.
-- `key_hash` is the SHA-256 of the stream key (the key is shown once, like API tokens).
-- `status` is idle, live or ended; `recording_id` is the video the broadcast became.
CREATE TABLE live_rooms (
    id            CHAR(11) PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title         VARCHAR(200) NOT NULL,
    description   TEXT NOT NULL,
    visibility    VARCHAR(16) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    key_hash      CHAR(64) NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER,
    recording_id  CHAR(11)
);
CREATE INDEX live_rooms_owner ON live_rooms(owner_id);
CREATE INDEX live_rooms_status ON live_rooms(status, started_at);
