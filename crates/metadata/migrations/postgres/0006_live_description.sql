-- A room's description as a video's: VARCHAR(5000), as the MySQL migration of the same number
-- makes it there (where a TEXT column reads as a BLOB through sqlx's Any driver; TEXT would
-- read as text here, the change keeps the column and its limit the same on every engine).
-- Keep in step with migrations/mysql/0006_live_description.sql. NOT NULL (restated by MySQL's
-- MODIFY) stays; a longer existing value fails the change, as it does on MySQL in strict mode.
ALTER TABLE live_rooms ALTER COLUMN description TYPE VARCHAR(5000) COLLATE "C";
