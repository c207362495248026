-- migrate:up
CREATE TABLE ranges (
    id INTEGER PRIMARY KEY,
    "begin" INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'open'
        CHECK (kind IN ('open', 'closed')),
    total INTEGER GENERATED ALWAYS AS ("end" - "begin") VIRTUAL
) STRICT;

INSERT INTO ranges ("begin", "end")
WITH RECURSIVE n(i) AS (
    SELECT 1
    UNION ALL
    SELECT i + 1 FROM n WHERE i < 10
)
SELECT i, i * 2 FROM n;

CREATE VIEW range_kinds AS
SELECT id,
       CASE
           WHEN total > 5 THEN 'long'
           ELSE 'short'
       END AS size
FROM ranges;
-- migrate:down
DROP VIEW range_kinds;
DROP TABLE ranges;
