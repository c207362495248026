-- migrate:up transaction:false
PRAGMA foreign_keys = OFF;
CREATE TABLE t (x INTEGER);
VACUUM;
-- migrate:down transaction:true
DROP TABLE t;
