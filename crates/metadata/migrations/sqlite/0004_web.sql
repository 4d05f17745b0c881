-- Web app: passwords, browser sessions and likes. Keep in step with migrations/mysql/0004_web.sql.
-- `password_hash` is a PHC string (argon2id); NULL for accounts made with `spool user add`,
-- which sign in with API tokens only.
ALTER TABLE users ADD COLUMN password_hash VARCHAR(255);

-- A browser session: only the SHA-256 of the cookie's secret is stored (like API tokens);
-- `csrf_token` is the per-session synchronizer token unsafe requests must echo.
CREATE TABLE sessions (
    id_hash       CHAR(64) PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    CHAR(43) NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- One row per (user, video) liked; `videos.likes` is the count, kept in the same transaction.
CREATE TABLE likes (
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    video_id      CHAR(11) NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, video_id)
);
CREATE INDEX likes_video ON likes(video_id);
ALTER TABLE videos ADD COLUMN likes INTEGER NOT NULL DEFAULT 0;
