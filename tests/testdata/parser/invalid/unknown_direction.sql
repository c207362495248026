-- migrate:up
CREATE TABLE t (x);
-- migrate:sideways
DROP TABLE t;
