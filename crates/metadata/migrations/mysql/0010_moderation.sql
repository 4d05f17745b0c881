-- Moderation. Keep in step with migrations/sqlite/0010_moderation.sql.
ALTER TABLE videos ADD COLUMN hold_reason VARCHAR(500);
ALTER TABLE videos ADD COLUMN held_at BIGINT;
CREATE INDEX videos_held ON videos(status, held_at);
ALTER TABLE users ADD COLUMN banned_at BIGINT;

CREATE TABLE hash_lists (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    name        VARCHAR(64) NOT NULL UNIQUE,
    kind        VARCHAR(8) NOT NULL,
    created_by  VARCHAR(64) NOT NULL,
    created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE hash_list_entries (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    list_id     BIGINT NOT NULL,
    hash        CHAR(64) NOT NULL,
    quality     BIGINT,
    label       VARCHAR(200) NOT NULL DEFAULT '',
    UNIQUE INDEX hash_list_entries_once (list_id, hash),
    INDEX hash_list_entries_hash (hash),
    FOREIGN KEY (list_id) REFERENCES hash_lists(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE video_frame_hashes (
    video_id    CHAR(11) NOT NULL,
    at_ms       BIGINT NOT NULL,
    hash        CHAR(64) NOT NULL,
    quality     BIGINT NOT NULL,
    PRIMARY KEY (video_id, at_ms),
    FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE video_matches (
    video_id        CHAR(11) NOT NULL,
    list_name       VARCHAR(64) NOT NULL,
    item            VARCHAR(200) NOT NULL,
    query_share     BIGINT NOT NULL,
    compared_share  BIGINT NOT NULL,
    pairs           VARCHAR(8000) NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (video_id, list_name, item),
    FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE reports (
    id           BIGINT PRIMARY KEY AUTO_INCREMENT,
    kind         VARCHAR(8) NOT NULL,
    target_id    VARCHAR(24) NOT NULL,
    video_id     CHAR(11),
    reporter_id  BIGINT NOT NULL,
    reason       VARCHAR(500) NOT NULL,
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    UNIQUE INDEX reports_once (kind, target_id, reporter_id),
    INDEX reports_open (closed_at, id),
    INDEX reports_video (video_id, closed_at),
    FOREIGN KEY (reporter_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE moderation_decisions (
    id           BIGINT PRIMARY KEY AUTO_INCREMENT,
    video_id     CHAR(11) NOT NULL,
    video_title  VARCHAR(200) NOT NULL,
    owner_id     BIGINT NOT NULL,
    actor_id     BIGINT,
    actor_name   VARCHAR(64),
    action       VARCHAR(16) NOT NULL,
    reason       VARCHAR(500) NOT NULL,
    created_at   BIGINT NOT NULL,
    INDEX moderation_decisions_video (video_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
