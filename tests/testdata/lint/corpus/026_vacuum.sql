-- Not atomic (LS501), and sqld refuses VACUUM (LS502, target http).
-- migrate:up transaction:false
VACUUM;

-- migrate:down
SELECT 1;
