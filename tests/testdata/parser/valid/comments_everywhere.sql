-- Leading comment lines before the first header are allowed.

-- migrate:up

-- This comment precedes the statement: the statement's line is the CREATE line.
-- So does this one.
CREATE TABLE a (x INTEGER); -- a trailing comment on the same line

   -- indented comment
      CREATE TABLE b (
          y INTEGER -- explains y; with a semicolon
      )
      -- comment between the statement and its semicolon
      ;
-- migrate:down
-- only comments precede this one
DROP TABLE b; DROP TABLE a; -- two statements, one line
-- a final comment
