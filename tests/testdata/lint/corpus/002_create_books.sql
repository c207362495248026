-- Safe: a child table with ON DELETE CASCADE, and an index on a new table.
-- migrate:up
CREATE TABLE books (
  id INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  isbn TEXT,
  pages TEXT
);
CREATE INDEX books_author ON books (author_id);

-- migrate:down
DROP TABLE books;
