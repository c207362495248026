-- migrate:up
CREATE TABLE a (x);
-- migrate:down
DROP TABLE a;
-- migrate:down
DROP TABLE b;
