-- Harmless but useless: the pragma does nothing inside the transaction (LS205).
-- migrate:up
PRAGMA foreign_keys = ON;
CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT);

-- migrate:down
DROP TABLE series;
