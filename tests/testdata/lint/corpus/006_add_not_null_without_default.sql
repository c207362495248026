-- Dangerous: fails as soon as authors has a row (LS302).
-- migrate:up
ALTER TABLE authors ADD COLUMN country TEXT NOT NULL;

-- migrate:down
ALTER TABLE authors DROP COLUMN country;
