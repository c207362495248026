-- migrate:up
CREATE TABLE t (x);
-- migrate:down transaction:FALSE
DROP TABLE t;
