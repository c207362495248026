-- migrate:up
CREATE TABLE t (x);

  commit;
