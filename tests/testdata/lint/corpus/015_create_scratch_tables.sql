-- Safe: two tables the next migrations drop.
-- migrate:up
CREATE TABLE legacy_log (id INTEGER PRIMARY KEY, line TEXT);
CREATE TABLE old_sessions (id INTEGER PRIMARY KEY, token TEXT);

-- migrate:down
DROP TABLE old_sessions;
DROP TABLE legacy_log;
