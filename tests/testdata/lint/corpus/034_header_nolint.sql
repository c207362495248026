-- Deliberately outside a transaction, and said so in the header.
-- migrate:up transaction:false nolint:LS501
CREATE INDEX audit_at ON audit (at);

-- migrate:down
DROP INDEX audit_at;
