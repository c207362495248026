-- migrate:up
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE
);
CREATE INDEX users_email ON users (email);

-- migrate:down
DROP INDEX users_email;
DROP TABLE users;
