-- A room's description as a video's: VARCHAR(5000), which sqlx reads as text (a MySQL TEXT
-- column reads as a BLOB through sqlx's Any driver). Keep in step with
-- migrations/sqlite/0006_live_description.sql.
ALTER TABLE live_rooms MODIFY description VARCHAR(5000) NOT NULL;
