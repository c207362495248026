-- Dangerous: authors is referenced by books (ON DELETE CASCADE) and foreign keys are on,
-- so DROP TABLE authors deletes every book (LS201, up refuses it); nickname becomes
-- NOT NULL with NULLs copied as they are (LS303).
-- migrate:up
CREATE TABLE _new_authors (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL CHECK (length(name) > 0),
  email TEXT NOT NULL,
  nickname TEXT NOT NULL,
  bio TEXT,
  country TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active'
);
INSERT INTO _new_authors SELECT * FROM authors;
DROP TABLE authors;
ALTER TABLE _new_authors RENAME TO authors;

-- migrate:down foreign_keys:off
CREATE TABLE _old_authors (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL CHECK (length(name) > 0),
  email TEXT NOT NULL,
  nickname TEXT,
  bio TEXT,
  country TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active'
);
INSERT INTO _old_authors SELECT * FROM authors;
DROP TABLE authors;
ALTER TABLE _old_authors RENAME TO authors;
