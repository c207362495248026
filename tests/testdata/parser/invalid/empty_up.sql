-- migrate:up
-- TODO: write this
/* later; */

-- migrate:down
DROP TABLE t;
