-- The rename is fine: nothing uses the table yet (trailing nolint, LS401 suppressed).
-- migrate:up
ALTER TABLE audit RENAME TO audit_log; -- migrate:nolint LS401

-- migrate:down
ALTER TABLE audit_log RENAME TO audit;
