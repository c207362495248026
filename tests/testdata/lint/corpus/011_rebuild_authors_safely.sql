-- The rebuild SQLite documents, with foreign_keys:off: email becomes NOT NULL but the copy
-- fills the NULLs (no LS303); the new CHECK may still break existing rows (LS304).
-- migrate:up foreign_keys:off
CREATE TABLE _new_authors (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL CHECK (length(name) > 0),
  email TEXT NOT NULL,
  nickname TEXT,
  bio TEXT,
  country TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active'
);
INSERT INTO _new_authors (id, name, email, nickname, bio, country, status)
  SELECT id, name, coalesce(email, ''), nickname, bio, country, status FROM authors;
DROP TABLE authors;
ALTER TABLE _new_authors RENAME TO authors;

-- migrate:down foreign_keys:off
CREATE TABLE _old_authors (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT,
  nickname TEXT,
  bio TEXT,
  country TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active'
);
INSERT INTO _old_authors SELECT * FROM authors;
DROP TABLE authors;
ALTER TABLE _old_authors RENAME TO authors;
