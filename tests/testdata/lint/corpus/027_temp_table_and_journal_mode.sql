-- sqld refuses both (LS502, target http).
-- migrate:up
CREATE TEMP TABLE staging (id INTEGER);
PRAGMA journal_mode = WAL;
CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT);

-- migrate:down
DROP TABLE events;
