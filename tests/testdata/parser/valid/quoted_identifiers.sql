-- migrate:up
CREATE TABLE "odd;table" ("col;1" TEXT, [col;2] TEXT, `col;3` TEXT, "it""s" TEXT);
INSERT INTO "odd;table" ([col;2], "col;1") VALUES ('a', 'b');
CREATE VIEW [v--not a comment] AS SELECT "col;1" AS "x/*y*/" FROM "odd;table";
-- migrate:down
DROP VIEW [v--not a comment];
DROP TABLE "odd;table";
