-- Refused by up: does nothing inside the transaction (LS204).
-- migrate:up
PRAGMA foreign_keys = OFF;
DROP TABLE series;

-- migrate:down
CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT);
