-- Dangerous: data loss, and the running application breaks (LS102).
-- migrate:up
ALTER TABLE books DROP COLUMN isbn;

-- migrate:down
ALTER TABLE books ADD COLUMN isbn TEXT;
