-- migrate:up
CREATE TABLE t (x);
INSERT INTO t
VALUES (
  'never closed;
);
