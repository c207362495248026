-- migrate:upp
CREATE TABLE t (x);
