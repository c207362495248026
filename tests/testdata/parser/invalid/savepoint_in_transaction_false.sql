-- migrate:up transaction:false
SAVEPOINT a;
CREATE TABLE t (x);
RELEASE a;
