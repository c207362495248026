-- Dangerous: SQLite rewrites imprints' REFERENCES to publishers_old on the rename, so
-- after the drop imprints reference a table that does not exist (LS202).
-- migrate:up foreign_keys:off
ALTER TABLE publishers RENAME TO publishers_old;
CREATE TABLE publishers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);
INSERT INTO publishers (id, name) SELECT id, name FROM publishers_old;
DROP TABLE publishers_old;

-- migrate:down
ALTER TABLE publishers DROP COLUMN country;
