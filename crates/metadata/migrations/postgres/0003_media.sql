-- Media pipeline: what is published for playback, progress, covers and view counts.
-- Keep in step with migrations/mysql/0003_media.sql (the sqlite one explains the columns).
ALTER TABLE videos
    ADD COLUMN progress BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN media VARCHAR(2000) COLLATE "C",
    ADD COLUMN cover_gen VARCHAR(32) COLLATE "C",
    ADD COLUMN cover_custom BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN views BIGINT NOT NULL DEFAULT 0;
CREATE INDEX videos_listing ON videos (visibility, status, created_at, id);
