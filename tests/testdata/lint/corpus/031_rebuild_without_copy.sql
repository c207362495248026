-- Dangerous: the rebuild copies nothing, so events ends up empty (LS104).
-- migrate:up
CREATE TABLE _new_events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT);
DROP TABLE events;
ALTER TABLE _new_events RENAME TO events;

-- migrate:down
SELECT 1;
