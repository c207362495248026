-- migrate:up transaction:false isolation:serializable
CREATE TABLE t (x);
