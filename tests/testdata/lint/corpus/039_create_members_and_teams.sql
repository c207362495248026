-- Safe: two tables with an index each, and an audit trigger on members.
-- migrate:up
CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
CREATE INDEX members_name ON members (name);
CREATE TABLE member_log (member_id INTEGER, at TEXT);
CREATE TRIGGER members_audit AFTER UPDATE ON members
BEGIN
  INSERT INTO member_log (member_id, at) VALUES (NEW.id, datetime('now'));
END;
CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE INDEX teams_name ON teams (name);

-- migrate:down
DROP TABLE teams;
DROP TABLE member_log;
DROP TABLE members;
