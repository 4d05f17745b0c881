-- Danmaku (bullet comments), live Q&A, and the limits around them. Keep in step with
-- migrations/sqlite/0007_danmaku.sql (the comments there explain the columns).
CREATE TABLE danmaku (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    video_id    CHAR(11) NOT NULL,
    room_id     CHAR(11),
    author_id   BIGINT NOT NULL,
    text        VARCHAR(400) NOT NULL,
    time_ms     BIGINT NOT NULL,
    mode        VARCHAR(8) NOT NULL,
    color       BIGINT NOT NULL,
    size        VARCHAR(8) NOT NULL,
    weight      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT,
    INDEX danmaku_video_time (video_id, time_ms),
    INDEX danmaku_room_id (room_id, id),
    FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE,
    FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE chat_filter_words (
    word        VARCHAR(100) PRIMARY KEY,
    created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_blocks (
    user_id     BIGINT NOT NULL,
    blocked_id  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, blocked_id),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    FOREIGN KEY (blocked_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE channel_moderators (
    owner_id      BIGINT NOT NULL,
    moderator_id  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (owner_id, moderator_id),
    FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE CASCADE,
    FOREIGN KEY (moderator_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE chat_mutes (
    scope       VARCHAR(20) NOT NULL,
    user_id     BIGINT NOT NULL,
    until_ms    BIGINT NOT NULL,
    muted_by    BIGINT NOT NULL,
    PRIMARY KEY (scope, user_id),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE questions (
    id           BIGINT PRIMARY KEY AUTO_INCREMENT,
    room_id      CHAR(11) NOT NULL,
    author_id    BIGINT NOT NULL,
    text         VARCHAR(1200) NOT NULL,
    votes        BIGINT NOT NULL,
    pinned       BIGINT NOT NULL,
    answered_at  BIGINT,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT,
    INDEX questions_room (room_id, id),
    FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE question_votes (
    question_id  BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (question_id, user_id),
    FOREIGN KEY (question_id) REFERENCES questions(id) ON DELETE CASCADE,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
