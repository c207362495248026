-- migrate:up
INSERT INTO t VALUES ('text
-- migrate:down
');
