-- migrate:up
CREATE TABLE a (x);CREATE TABLE b (x); INSERT INTO a VALUES (';');INSERT INTO b VALUES (1);;; ;
-- migrate:down
DROP TABLE a;DROP TABLE b;
