-- Backward-incompatible: the running application still uses "title" (LS402).
-- migrate:up
ALTER TABLE books RENAME COLUMN title TO name;

-- migrate:down
ALTER TABLE books RENAME COLUMN name TO title;
