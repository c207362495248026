/* A header comment before the first section is fine.
   It may contain ; and even mention migrate:up. */
-- migrate:up
/* leading block comment; with a semicolon */
CREATE TABLE t (x INTEGER /* inline; comment */, y TEXT);
/*
   Examples in a block comment are plain text, as long as no line starts with
   "-- migrate:" in the first column:
   -- migrate:down
   DROP TABLE t;
*/
INSERT INTO t VALUES (1, 'one') /* trailing comment; before the semicolon */;
/* a comment-only chunk; */ ;
-- migrate:down
DROP TABLE t;
