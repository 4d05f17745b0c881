-- Moderation. Keep in step with migrations/mysql/0010_moderation.sql.
--
-- A held video keeps its pipeline status column at 'held' (the pipeline's writes keep it
-- there) with the reason its owner sees; an approval puts it back.
ALTER TABLE videos ADD COLUMN hold_reason VARCHAR(500);
ALTER TABLE videos ADD COLUMN held_at INTEGER;
CREATE INDEX videos_held ON videos(status, held_at);
-- A banned user cannot sign in, and their sessions and tokens stop working.
ALTER TABLE users ADD COLUMN banned_at INTEGER;

-- Hash lists: `kind` is 'pdq' (perceptual, matched by distance) or 'blake3' (exact digests).
CREATE TABLE hash_lists (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(64) NOT NULL UNIQUE,
    kind        VARCHAR(8) NOT NULL,
    created_by  VARCHAR(64) NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE hash_list_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id     INTEGER NOT NULL REFERENCES hash_lists(id) ON DELETE CASCADE,
    hash        CHAR(64) NOT NULL,
    quality     INTEGER,
    label       VARCHAR(200) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX hash_list_entries_once ON hash_list_entries(list_id, hash);
CREATE INDEX hash_list_entries_hash ON hash_list_entries(hash);

-- A video's sampled frames (1 fps, quality >= 50): the PDQ hash at each offset.
CREATE TABLE video_frame_hashes (
    video_id    CHAR(11) NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    at_ms       INTEGER NOT NULL,
    hash        CHAR(64) NOT NULL,
    quality     INTEGER NOT NULL,
    PRIMARY KEY (video_id, at_ms)
);

-- What held a video: one row per matched list item, with the frame pairs (JSON) shown to
-- reviewers. Kept until the video goes.
CREATE TABLE video_matches (
    video_id        CHAR(11) NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    list_name       VARCHAR(64) NOT NULL,
    item            VARCHAR(200) NOT NULL,
    query_share     INTEGER NOT NULL,
    compared_share  INTEGER NOT NULL,
    pairs           VARCHAR(8000) NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (video_id, list_name, item)
);

-- Users' reports of videos, comments and danmaku: one per (target, reporter). `video_id` is
-- the video concerned (the reported one, or the one a comment or danmaku is on) when there is
-- one. Closed by a decision.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         VARCHAR(8) NOT NULL,
    target_id    VARCHAR(24) NOT NULL,
    video_id     CHAR(11),
    reporter_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason       VARCHAR(500) NOT NULL,
    created_at   INTEGER NOT NULL,
    closed_at    INTEGER
);
CREATE UNIQUE INDEX reports_once ON reports(kind, target_id, reporter_id);
CREATE INDEX reports_open ON reports(closed_at, id);
CREATE INDEX reports_video ON reports(video_id, closed_at);

-- The audit trail: every hold, approval, removal and ban, who (NULL: the system), when, why.
-- No foreign keys: it outlives the video and the users it names.
CREATE TABLE moderation_decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id     CHAR(11) NOT NULL,
    video_title  VARCHAR(200) NOT NULL,
    owner_id     INTEGER NOT NULL,
    actor_id     INTEGER,
    actor_name   VARCHAR(64),
    action       VARCHAR(16) NOT NULL,
    reason       VARCHAR(500) NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX moderation_decisions_video ON moderation_decisions(video_id, id);
