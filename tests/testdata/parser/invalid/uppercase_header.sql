-- Migrate:Up
CREATE TABLE t (x);
