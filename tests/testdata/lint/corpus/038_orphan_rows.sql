-- Broken: a book of an author that does not exist; with foreign keys on, up fails (LS002).
-- migrate:up
INSERT INTO books (author_id, name) VALUES (999, 1);

-- migrate:down
DELETE FROM books WHERE author_id = 999;
