-- Safe: a new table.
-- migrate:up
CREATE TABLE authors (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT,
  nickname TEXT
);

-- migrate:down
DROP TABLE authors;
