-- A DELETE over a big table is one long transaction on sqld (LS601 with --url).
-- migrate:up
DELETE FROM events WHERE kind = 'debug';

-- migrate:down
SELECT 1;
