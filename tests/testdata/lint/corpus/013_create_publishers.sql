-- Safe: a parent and a child for the rename-away example.
-- migrate:up
CREATE TABLE publishers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE imprints (
  id INTEGER PRIMARY KEY,
  publisher_id INTEGER REFERENCES publishers (id),
  name TEXT
);

-- migrate:down
DROP TABLE imprints;
DROP TABLE publishers;
