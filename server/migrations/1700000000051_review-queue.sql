-- Up Migration

-- The review queue lists changes by status across the fleet, oldest waiting first.
CREATE INDEX tenant_changes_status_created ON tenant_changes (status, created_at, id);

-- Down Migration

DROP INDEX tenant_changes_status_created;
