-- Dangerous: the rows go with it (LS101).
-- migrate:up
DROP TABLE legacy_log;

-- migrate:down
CREATE TABLE legacy_log (id INTEGER PRIMARY KEY, line TEXT);
