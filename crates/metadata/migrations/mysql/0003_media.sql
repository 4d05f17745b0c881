-- Media pipeline: what is published for playback, progress, covers and view counts.
-- Keep in step with migrations/sqlite/0003_media.sql.
ALTER TABLE videos
    ADD COLUMN progress BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN media VARCHAR(2000),
    ADD COLUMN cover_gen VARCHAR(32),
    ADD COLUMN cover_custom BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN views BIGINT NOT NULL DEFAULT 0,
    ADD INDEX videos_listing (visibility, status, created_at, id);
