-- migrate:up

   	
-- migrate:down
DROP TABLE t;
