-- migrate:up foreign_keys:off
CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
-- The table rebuild SQLite documents (https://sqlite.org/lang_altertable.html).
CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
INSERT INTO parent_new (id, name) SELECT id, coalesce(name, '') FROM parent;
DROP TABLE parent;
ALTER TABLE parent_new RENAME TO parent;

-- migrate:down foreign_keys:off transaction:true
DROP TABLE parent;
DROP TABLE child;
