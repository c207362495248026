-- migrate:up
CREATE TABLE t (x);
CREATE TRIGGER t_ai AFTER INSERT ON t
BEGIN
  SELECT 1;
  SELECT 2;
-- migrate:down
DROP TABLE t;
