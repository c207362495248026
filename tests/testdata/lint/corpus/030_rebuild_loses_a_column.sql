-- Dangerous: the rebuild silently drops books.pages (LS104) and turns a TEXT column
-- into INTEGER (LS306).
-- migrate:up foreign_keys:off
CREATE TABLE _new_books (
  id INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
  name INTEGER NOT NULL
);
INSERT INTO _new_books (id, author_id, name) SELECT id, author_id, name FROM books;
DROP TABLE books;
ALTER TABLE _new_books RENAME TO books;
CREATE INDEX books_author ON books (author_id);

-- migrate:down foreign_keys:off
CREATE TABLE _old_books (
  id INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  pages TEXT
);
INSERT INTO _old_books (id, author_id, name) SELECT id, author_id, name FROM books;
DROP TABLE books;
ALTER TABLE _old_books RENAME TO books;
CREATE INDEX books_author ON books (author_id);
