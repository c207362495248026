-- Dangerous: uniqueness is no longer enforced (LS103).
-- migrate:up
DROP INDEX authors_email;

-- migrate:down
CREATE UNIQUE INDEX authors_email ON authors (email);
