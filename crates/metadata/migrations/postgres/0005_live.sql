-- Live rooms. Keep in step with migrations/mysql/0005_live.sql.
-- `description` starts as TEXT, as on MySQL; 0006_live_description makes it VARCHAR(5000).
CREATE TABLE live_rooms (
    id            VARCHAR(11) COLLATE "C" PRIMARY KEY,
    owner_id      BIGINT NOT NULL,
    title         VARCHAR(200) COLLATE "C" NOT NULL,
    description   TEXT COLLATE "C" NOT NULL,
    visibility    VARCHAR(16) COLLATE "C" NOT NULL,
    status        VARCHAR(16) COLLATE "C" NOT NULL,
    key_hash      VARCHAR(64) COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    ended_at      BIGINT,
    recording_id  VARCHAR(11) COLLATE "C",
    CONSTRAINT live_rooms_key UNIQUE (key_hash),
    FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX live_rooms_owner ON live_rooms (owner_id);
CREATE INDEX live_rooms_status ON live_rooms (status, started_at);
