-- Comments and follows. Keep in step with migrations/sqlite/0008_comments_follows.sql.
-- `body` is a VARCHAR, not TEXT: sqlx's Any driver decodes MySQL TEXT as bytes.
CREATE TABLE comments (
    id            CHAR(12) PRIMARY KEY,
    video_id      CHAR(11) NOT NULL,
    author_id     BIGINT NOT NULL,
    parent_id     CHAR(12),
    seq           BIGINT NOT NULL,
    body          VARCHAR(2000) NOT NULL,
    reply_count   BIGINT NOT NULL DEFAULT 0,
    likes         BIGINT NOT NULL DEFAULT 0,
    pinned        BIGINT NOT NULL DEFAULT 0,
    deleted       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    UNIQUE INDEX comments_video_seq (video_id, seq),
    INDEX comments_thread (parent_id, seq),
    INDEX comments_top (video_id, likes, seq),
    FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE,
    FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE videos ADD COLUMN comment_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE comment_likes (
    user_id       BIGINT NOT NULL,
    comment_id    CHAR(12) NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, comment_id),
    INDEX comment_likes_comment (comment_id),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    FOREIGN KEY (comment_id) REFERENCES comments(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE comment_reports (
    id            BIGINT PRIMARY KEY AUTO_INCREMENT,
    comment_id    CHAR(12) NOT NULL,
    reporter_id   BIGINT NOT NULL,
    reason        VARCHAR(500) NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE INDEX comment_reports_once (comment_id, reporter_id),
    FOREIGN KEY (comment_id) REFERENCES comments(id) ON DELETE CASCADE,
    FOREIGN KEY (reporter_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE follows (
    follower_id   BIGINT NOT NULL,
    channel_id    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (follower_id, channel_id),
    INDEX follows_channel (channel_id),
    FOREIGN KEY (follower_id) REFERENCES users(id) ON DELETE CASCADE,
    FOREIGN KEY (channel_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
