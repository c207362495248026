-- Dangerous: a typo SQLite accepts until the first insert (LS203).
-- migrate:up
CREATE TABLE reviews (id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES bookz (id));

-- migrate:down
DROP TABLE reviews;
