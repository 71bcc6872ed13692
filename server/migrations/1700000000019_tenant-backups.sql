-- Up Migration

-- Backups taken before anything destructive (a teardown, a rollback that
-- removes the database phase, an approved destructive change), on demand, and
-- before a restore overwrites the tenant's data: a custom-format pg_dump of
-- the tenant's schema, kept in the backup store (a private local folder, or
-- Azure Blob Storage) until expires_at. The row outlives the file: removed_at
-- says when retention (or an operator) deleted it, so the history stays.
CREATE TABLE tenant_backups (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    -- The run it was taken for (a teardown, rollback or update), if any.
    run_id uuid REFERENCES provisioning_runs (id) ON DELETE SET NULL,
    reason text NOT NULL CHECK (reason IN ('teardown', 'rollback', 'destructive-change', 'manual', 'before-restore')),
    requested_by text NOT NULL,
    -- What was dumped: the schema, and where it was (host:port/database, never a password).
    schema_name text NOT NULL,
    source text NOT NULL,
    store text NOT NULL CHECK (store IN ('local', 'azure')),
    location text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    removed_at timestamptz
);
CREATE INDEX tenant_backups_tenant ON tenant_backups (tenant_id, created_at);
CREATE INDEX tenant_backups_expiring ON tenant_backups (expires_at) WHERE removed_at IS NULL;

-- A run asked with {"skipBackup": true}: it goes on without a backup (the
-- audit log records who asked).
ALTER TABLE provisioning_runs ADD COLUMN skip_backup boolean NOT NULL DEFAULT false;

-- A tenant requested with restoreFrom: once its provisioning has created its
-- schema, that backup is restored into it (restored_at records when).
CREATE TABLE tenant_restores (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    backup_id uuid NOT NULL REFERENCES tenant_backups (id),
    requested_by text NOT NULL,
    restored_at timestamptz
);

-- Down Migration

DROP TABLE tenant_restores;
ALTER TABLE provisioning_runs DROP COLUMN skip_backup;
DROP TABLE tenant_backups;
