-- Safe: a plain index.
-- migrate:up
CREATE INDEX books_title ON books (title);

-- migrate:down
DROP INDEX books_title;
