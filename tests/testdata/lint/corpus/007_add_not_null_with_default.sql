-- Safe: NOT NULL with a default.
-- migrate:up
ALTER TABLE authors ADD COLUMN status TEXT NOT NULL DEFAULT 'active';

-- migrate:down
ALTER TABLE authors DROP COLUMN status;
