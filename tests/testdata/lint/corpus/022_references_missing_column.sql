-- Dangerous: authors has no column uuid (LS203).
-- migrate:up
CREATE TABLE quotes (id INTEGER PRIMARY KEY, author_uuid TEXT REFERENCES authors (uuid));

-- migrate:down
DROP TABLE quotes;
