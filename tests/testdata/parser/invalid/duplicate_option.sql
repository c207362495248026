-- migrate:up transaction:false transaction:false
CREATE TABLE t (x);
