-- migrate:up
BEGIN;
CREATE TABLE t (x);
COMMIT;
