-- Dangerous: duplicates already in authors make it fail (LS301).
-- migrate:up
CREATE UNIQUE INDEX authors_email ON authors (email);

-- migrate:down
DROP INDEX authors_email;
