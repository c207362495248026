-- migrate:up
CREATE TABLE a (x);
-- migrate:down
DROP TABLE a;
-- migrate:up
CREATE TABLE b (x);
