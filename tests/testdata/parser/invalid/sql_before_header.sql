-- a comment is fine
CREATE TABLE early (x);
-- migrate:up
CREATE TABLE t (x);
