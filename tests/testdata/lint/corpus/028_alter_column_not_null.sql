-- libSQL does not check existing rows against the new NOT NULL (LS305).
-- migrate:up
ALTER TABLE events ALTER COLUMN kind TO kind TEXT NOT NULL;

-- migrate:down
ALTER TABLE events ALTER COLUMN kind TO kind TEXT;
