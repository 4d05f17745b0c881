-- Web app: passwords, browser sessions and likes. Keep in step with migrations/mysql/0004_web.sql.
ALTER TABLE users ADD COLUMN password_hash VARCHAR(255) COLLATE "C";

CREATE TABLE sessions (
    id_hash       VARCHAR(64) COLLATE "C" PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    csrf_token    VARCHAR(43) COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE likes (
    user_id       BIGINT NOT NULL,
    video_id      VARCHAR(11) COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, video_id),
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX likes_video ON likes (video_id);

ALTER TABLE videos ADD COLUMN likes BIGINT NOT NULL DEFAULT 0;
