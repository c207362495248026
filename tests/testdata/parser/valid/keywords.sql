-- migrate:up
CREATE TABLE begin_log (started TEXT);
INSERT INTO begin_log VALUES ('BEGIN; COMMIT;');
CREATE TABLE "commit" (x INTEGER);
-- Transaction words inside a trigger body are its own, not transaction control.
CREATE TRIGGER begin_log_ai AFTER INSERT ON begin_log BEGIN
    INSERT INTO "commit" VALUES (1);
END;
-- migrate:down
DROP TABLE "commit";
DROP TABLE begin_log;
