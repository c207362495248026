-- No way back (LS504).
-- migrate:up
CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT);
