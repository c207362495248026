-- Safe: ALTER COLUMN that only changes the default.
-- migrate:up
ALTER TABLE events ALTER COLUMN payload TO payload TEXT DEFAULT '{}';

-- migrate:down
ALTER TABLE events ALTER COLUMN payload TO payload TEXT;
