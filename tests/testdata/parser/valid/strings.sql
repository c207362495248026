-- migrate:up
CREATE TABLE notes (body TEXT, data BLOB);
INSERT INTO notes VALUES ('semicolon; inside', x'3B3B');
INSERT INTO notes VALUES ('dashes -- are not a comment here', NULL);
INSERT INTO notes VALUES ('/* nor is this */', NULL);
INSERT INTO notes VALUES ('it''s quoted; twice '''';', NULL);
INSERT INTO notes VALUES ('a string
spanning; three
lines', NULL);
INSERT INTO notes VALUES ('END;', NULL);
-- migrate:down
DELETE FROM notes WHERE body = ';';
DROP TABLE notes;
