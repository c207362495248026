--migrate:up   
CREATE TABLE t (x INTEGER);
--   migrate:down 	 transaction:false  
DROP TABLE t;
