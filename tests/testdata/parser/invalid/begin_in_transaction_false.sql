-- migrate:up transaction:false
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE t (x);
COMMIT;
