-- migrate:up
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT);
CREATE TABLE audit (item_id INTEGER, note TEXT);

CREATE TRIGGER items_audit AFTER UPDATE ON items
FOR EACH ROW
BEGIN
    -- a comment with a ; inside the body
    INSERT INTO audit (item_id, note) VALUES (NEW.id, 'changed; see log');
    UPDATE items SET updated_at = CASE WHEN NEW.name IS NULL THEN 'never' ELSE 'now' END
    WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS items_guard BEFORE DELETE ON items BEGIN SELECT RAISE(ABORT, 'no; deleting'); END;
CREATE TEMP TRIGGER items_tmp AFTER INSERT ON items BEGIN
  /* block; comment */ INSERT INTO audit VALUES (NEW.id, 'end;');
END

-- migrate:down
DROP TRIGGER items_guard;
DROP TRIGGER items_audit;
DROP TABLE audit;
DROP TABLE items;
