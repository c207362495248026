-- migrate:up
CREATE TABLE parent (id INTEGER PRIMARY KEY);

-- migrate:down transaction:false foreign_keys:off
DROP TABLE parent;
