-- migrate:up
CREATE TABLE t (x);
/* notes:
-- migrate:down
*/
DROP TABLE t;
