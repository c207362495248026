-- Safe: expand (a new nullable column), then backfill. Big tables: see LS601 with --url.
-- migrate:up
ALTER TABLE events ADD COLUMN source TEXT;
UPDATE events SET source = 'web' WHERE source IS NULL;

-- migrate:down
ALTER TABLE events DROP COLUMN source;
