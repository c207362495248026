-- migrate:up
SELECT 1;
SELECT `x;
