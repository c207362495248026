-- Dangerous: authors.name is not unique, so every insert fails with "foreign key
-- mismatch" (LS203).
-- migrate:up
CREATE TABLE fans (id INTEGER PRIMARY KEY, author_name TEXT REFERENCES authors (name));

-- migrate:down
DROP TABLE fans;
