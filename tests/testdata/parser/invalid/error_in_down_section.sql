-- migrate:up
CREATE TABLE t (x);

-- migrate:down

DELETE FROM t WHERE x = 'oops;
DROP TABLE t;
