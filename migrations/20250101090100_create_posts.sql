-- migrate:up
CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT '',
  updated_at TEXT
);

CREATE INDEX posts_author ON posts (author_id);

-- Keep updated_at honest: a trigger body holds its own semicolons.
CREATE TRIGGER posts_touch AFTER UPDATE OF title, body ON posts
BEGIN
  UPDATE posts SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- migrate:down
DROP TRIGGER posts_touch;
DROP TABLE posts;
