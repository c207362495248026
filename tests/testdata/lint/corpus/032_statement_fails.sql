-- Broken: books has no column isbn any more (LS001); the rest is not linted.
-- migrate:up
CREATE INDEX books_isbn ON books (isbn);
DROP TABLE authors;

-- migrate:down
DROP INDEX books_isbn;
