-- migrate:up
CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN
-- migrate:down
  SELECT 1;
END;
