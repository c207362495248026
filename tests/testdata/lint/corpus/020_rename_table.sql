-- Backward-incompatible: the running application still uses "tags" (LS401).
-- migrate:up
ALTER TABLE tags RENAME TO labels;

-- migrate:down
ALTER TABLE labels RENAME TO tags;
