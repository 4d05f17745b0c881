-- Danmaku (bullet comments), live Q&A, and the limits around them. Keep in step with
-- migrations/mysql/0007_danmaku.sql.
-- A danmaku belongs to a video and a point of it (`time_ms`); one sent in a live room also
-- names the room and is stored against the room's recording, at the broadcast's time.
-- `mode` is scroll, top or bottom; `color` 0xRRGGBB; `size` small, normal or large;
-- `weight` 1-10 (players hide low ones in crowded slices). Deleted rows stay (deleted_at) so a
-- resuming viewer learns of the deletion.
CREATE TABLE danmaku (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id    CHAR(11) NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    room_id     CHAR(11),
    author_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text        VARCHAR(400) NOT NULL,
    time_ms     INTEGER NOT NULL,
    mode        VARCHAR(8) NOT NULL,
    color       INTEGER NOT NULL,
    size        VARCHAR(8) NOT NULL,
    weight      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX danmaku_video_time ON danmaku(video_id, time_ms);
CREATE INDEX danmaku_room_id ON danmaku(room_id, id);

-- Words no danmaku or question may contain (lower case; matched as substrings), edited by admins.
CREATE TABLE chat_filter_words (
    word        VARCHAR(100) PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

-- A viewer's block list: the blocked user's messages are not shown to the blocker.
CREATE TABLE user_blocks (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);

-- Moderators a channel's owner appointed: they delete messages and mute senders on the
-- owner's videos and in the owner's rooms.
CREATE TABLE channel_moderators (
    owner_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    moderator_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (owner_id, moderator_id)
);

-- A sender muted in one conversation (`scope` = video:<id> or room:<id>) until `until_ms`.
CREATE TABLE chat_mutes (
    scope       VARCHAR(20) NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    until_ms    INTEGER NOT NULL,
    muted_by    INTEGER NOT NULL,
    PRIMARY KEY (scope, user_id)
);

-- Live Q&A: questions to a room's host; votes one per user; at most one pinned per room.
CREATE TABLE questions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id      CHAR(11) NOT NULL,
    author_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text         VARCHAR(1200) NOT NULL,
    votes        INTEGER NOT NULL,
    pinned       INTEGER NOT NULL,
    answered_at  INTEGER,
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER
);
CREATE INDEX questions_room ON questions(room_id, id);

CREATE TABLE question_votes (
    question_id  INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (question_id, user_id)
);
