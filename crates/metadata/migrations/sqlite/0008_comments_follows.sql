-- Comments and follows. Keep in step with migrations/mysql/0008_comments_follows.sql.
-- A comment is top-level (parent_id NULL) or a reply to a top-level comment: one level.
-- `seq` numbers a video's comments in commit order (from `videos.comment_seq`, bumped in the
-- inserting transaction), so keyset pages over it never skip or repeat a row while others
-- comment. A deleted comment keeps its row (text emptied) so its replies keep their thread.
CREATE TABLE comments (
    id            CHAR(12) PRIMARY KEY,
    video_id      CHAR(11) NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    author_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id     CHAR(12),
    seq           INTEGER NOT NULL,
    body          VARCHAR(2000) NOT NULL,
    reply_count   INTEGER NOT NULL DEFAULT 0,
    likes         INTEGER NOT NULL DEFAULT 0,
    pinned        INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX comments_video_seq ON comments(video_id, seq);
CREATE INDEX comments_thread ON comments(parent_id, seq);
CREATE INDEX comments_top ON comments(video_id, likes, seq);
ALTER TABLE videos ADD COLUMN comment_seq INTEGER NOT NULL DEFAULT 0;

-- One row per (user, comment) liked; `comments.likes` is the count, kept in the same transaction.
CREATE TABLE comment_likes (
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    comment_id    CHAR(12) NOT NULL REFERENCES comments(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, comment_id)
);
CREATE INDEX comment_likes_comment ON comment_likes(comment_id);

-- A report of a comment to the admins; one per (comment, reporter).
CREATE TABLE comment_reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    comment_id    CHAR(12) NOT NULL REFERENCES comments(id) ON DELETE CASCADE,
    reporter_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason        VARCHAR(500) NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX comment_reports_once ON comment_reports(comment_id, reporter_id);

-- A follower of a channel (a user); counts are COUNT(*) over the channel index.
CREATE TABLE follows (
    follower_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (follower_id, channel_id)
);
CREATE INDEX follows_channel ON follows(channel_id);
