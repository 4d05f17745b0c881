-- Media pipeline: what is published for playback, progress, covers and view counts.
-- Keep in step with migrations/mysql/0003_media.sql.
-- `media` is JSON (spool_media::Published): the generation directory, the renditions that are
-- complete, the audio track, whether the ladder is complete and whether a storyboard exists.
-- `cover_gen` names the directory of the current cover set; `cover_custom` = 1 once the owner
-- uploaded one, so the pipeline never replaces it.
ALTER TABLE videos ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN media VARCHAR(2000);
ALTER TABLE videos ADD COLUMN cover_gen VARCHAR(32);
ALTER TABLE videos ADD COLUMN cover_custom INTEGER NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN views INTEGER NOT NULL DEFAULT 0;
CREATE INDEX videos_listing ON videos(visibility, status, created_at, id);
