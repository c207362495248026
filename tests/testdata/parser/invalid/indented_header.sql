-- migrate:up
CREATE TABLE t (x);
  -- migrate:down
DROP TABLE t;
