-- migrate:up
CREATE TABLE t (x INTEGER);

-- migrate:down
-- Irreversible: only comments here, so the down section has no statements.

