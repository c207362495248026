-- migrate:up
SELECT [x;
FROM t;
