-- Safe: seed data.
-- migrate:up
INSERT INTO tags (label) VALUES ('fiction');
INSERT INTO tags (label) VALUES ('poetry');

-- migrate:down
DELETE FROM tags WHERE label IN ('fiction', 'poetry');
