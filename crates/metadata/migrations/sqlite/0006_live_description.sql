-- Nothing to change on SQLite (TEXT reads as text); the MySQL migration of the same number
-- makes a room's description VARCHAR(5000) there.
SELECT 1;
