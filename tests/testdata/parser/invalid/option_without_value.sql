-- migrate:up transaction
CREATE TABLE t (x);
