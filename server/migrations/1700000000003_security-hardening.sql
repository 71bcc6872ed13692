-- Up Migration

-- The row trigger refuses UPDATE and DELETE; TRUNCATE bypasses row triggers,
-- so it gets a statement trigger of its own. (Disabling triggers or
-- session_replication_role needs the table's owner or a superuser: the
-- service's own role, with only INSERT and SELECT here, can do neither. See
-- the database roles in the operations manual.)
CREATE TRIGGER provisioning_audit_logs_no_truncate BEFORE TRUNCATE ON provisioning_audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION provisioning_audit_logs_append_only();

-- Idempotency keys are scoped to the caller's token identity (a hash prefix,
-- not the token) and expire after 24 hours; pruning looks them up by age.
COMMENT ON COLUMN idempotency_keys.principal IS 'identity of the token that used the key (sha-256 prefix), not a principal name';
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Down Migration

DROP INDEX idempotency_keys_created;
COMMENT ON COLUMN idempotency_keys.principal IS NULL;
DROP TRIGGER provisioning_audit_logs_no_truncate ON provisioning_audit_logs;
