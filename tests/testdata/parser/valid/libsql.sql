-- migrate:up
CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, emb F32_BLOB(3)) RANDOM ROWID;
CREATE INDEX docs_emb ON docs (libsql_vector_idx(emb));
CREATE INDEX docs_emb_cos ON docs (libsql_vector_idx(emb, 'metric=cosine'));
INSERT INTO docs (title, emb) VALUES ('first; doc', vector32('[0.1, 0.2, 0.3]'));
ALTER TABLE docs ALTER COLUMN title TO title TEXT NOT NULL DEFAULT '';
ALTER TABLE t ALTER COLUMN c TO c INTEGER NOT NULL DEFAULT 0;
-- migrate:down
DROP INDEX docs_emb_cos;
DROP INDEX docs_emb;
DROP TABLE docs;
