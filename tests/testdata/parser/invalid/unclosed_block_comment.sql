-- migrate:up
CREATE TABLE t (x);

/* this comment
   never ends;
DROP TABLE t;
