-- Safe: a UNIQUE index on a table created in the same migration has no rows to break it.
-- migrate:up
CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT NOT NULL);
CREATE UNIQUE INDEX tags_label ON tags (label);

-- migrate:down
DROP TABLE tags;
