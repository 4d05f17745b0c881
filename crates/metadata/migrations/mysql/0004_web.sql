-- Web app: passwords, browser sessions and likes. Keep in step with migrations/sqlite/0004_web.sql.
ALTER TABLE users ADD COLUMN password_hash VARCHAR(255);

CREATE TABLE sessions (
    id_hash       CHAR(64) PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    csrf_token    CHAR(43) NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    INDEX sessions_user (user_id),
    INDEX sessions_expiry (expires_at),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE likes (
    user_id       BIGINT NOT NULL,
    video_id      CHAR(11) NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, video_id),
    INDEX likes_video (video_id),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE videos ADD COLUMN likes BIGINT NOT NULL DEFAULT 0;
