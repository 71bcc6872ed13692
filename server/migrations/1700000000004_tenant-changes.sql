-- Up Migration

-- Changes through review: a previewed change to a tenant, its saved update
-- plan and who requested, approved or rejected it.
CREATE TABLE tenant_changes (
    id              uuid PRIMARY KEY,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id),
    status          text        NOT NULL CHECK (status IN ('PREVIEWING', 'PREVIEW_FAILED', 'PENDING_REVIEW', 'APPROVED', 'APPLYING', 'APPLIED', 'FAILED', 'REJECTED', 'STALE', 'EXPIRED')),
    -- What was asked for: {tier?, lastPhase?, reason?}; {} converges the tenant to its recorded spec.
    requested       jsonb       NOT NULL,
    -- The tier and last phase the change brings the tenant to (checked against model/ where requests come in).
    target_tier     text        NOT NULL,
    target_phase    integer     NOT NULL CHECK (target_phase >= 1),
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    preview_run_id  uuid,
    previewed_at    timestamptz,
    preview         jsonb,
    destructive     boolean,
    -- The engine's saved plan reference (SavedPlan); the plan file lives under the data directory.
    plan            jsonb,
    error           text,
    decided_by      text,
    decided_at      timestamptz,
    allow_destructive boolean   NOT NULL DEFAULT false,
    applied_at      timestamptz
);
CREATE INDEX tenant_changes_tenant ON tenant_changes (tenant_id, created_at DESC);

ALTER TABLE provisioning_runs ADD COLUMN change_id uuid REFERENCES tenant_changes (id);
ALTER TABLE provisioning_runs DROP CONSTRAINT provisioning_runs_kind_check;
ALTER TABLE provisioning_runs ADD CONSTRAINT provisioning_runs_kind_check
    CHECK (kind IN ('provision', 'retry', 'rollback', 'teardown', 'preview', 'drift', 'update'));

-- One run at a time per tenant now also counts updates and the queued previews of changes.
DROP INDEX provisioning_runs_one_active;
CREATE UNIQUE INDEX provisioning_runs_one_active ON provisioning_runs (tenant_id)
    WHERE status IN ('QUEUED', 'RUNNING') AND (kind IN ('provision', 'retry', 'rollback', 'teardown', 'update') OR change_id IS NOT NULL);

ALTER TABLE tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check
    CHECK (status IN ('PROVISIONING', 'ACTIVE', 'UPDATING', 'FAILED', 'DEPROVISIONING', 'DELETED'));

ALTER TABLE provisioning_audit_logs DROP CONSTRAINT provisioning_audit_logs_entity_check;
ALTER TABLE provisioning_audit_logs ADD CONSTRAINT provisioning_audit_logs_entity_check
    CHECK (entity IN ('tenant', 'phase', 'run', 'change'));

-- Down Migration

ALTER TABLE provisioning_audit_logs DROP CONSTRAINT provisioning_audit_logs_entity_check;
ALTER TABLE provisioning_audit_logs ADD CONSTRAINT provisioning_audit_logs_entity_check CHECK (entity IN ('tenant', 'phase', 'run'));
ALTER TABLE tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('PROVISIONING', 'ACTIVE', 'FAILED', 'DEPROVISIONING', 'DELETED'));
DROP INDEX provisioning_runs_one_active;
CREATE UNIQUE INDEX provisioning_runs_one_active ON provisioning_runs (tenant_id)
    WHERE status IN ('QUEUED', 'RUNNING') AND kind IN ('provision', 'retry', 'rollback', 'teardown');
ALTER TABLE provisioning_runs DROP CONSTRAINT provisioning_runs_kind_check;
ALTER TABLE provisioning_runs ADD CONSTRAINT provisioning_runs_kind_check CHECK (kind IN ('provision', 'retry', 'rollback', 'teardown', 'preview', 'drift'));
ALTER TABLE provisioning_runs DROP COLUMN change_id;
DROP TABLE tenant_changes;
