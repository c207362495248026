-- migrate:up
CREATE TABLE t (x);
/* done */ END TRANSACTION;
