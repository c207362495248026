-- Dangerous: the rebuild of members (as table-rebuilding generators write it) drops the
-- table's index and its audit trigger with the old table and never creates them again
-- (LS105); the rebuild of teams creates its index again after the rename (no finding).
-- migrate:up
CREATE TABLE __new_members (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '');
INSERT INTO __new_members (id, name, email) SELECT id, name, coalesce(email, '') FROM members;
DROP TABLE members;
ALTER TABLE __new_members RENAME TO members;

CREATE TABLE __new_teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT);
INSERT INTO __new_teams (id, name) SELECT id, name FROM teams;
DROP TABLE teams;
ALTER TABLE __new_teams RENAME TO teams;
CREATE INDEX teams_name ON teams (name);

-- migrate:down
SELECT 1;
