-- migrate:up transaction:false foreign_keys:off
CREATE TABLE t (x);
