-- Up Migration

-- Fleet changes (issue 23): a proposed platform settings version with its
-- preview across the selected tenants, reviewed before it becomes current.
-- The proposed settings live here, apart from platform_settings_versions, so
-- that nothing runs on them before approval; approval appends them there as
-- the next version (`version`). `base_version`: the current version the patch
-- was applied to and previewed against; an approval once another version
-- became current is refused (the preview no longer describes the change).
CREATE TABLE fleet_changes (
    id              uuid        PRIMARY KEY,
    status          text        NOT NULL CHECK (status IN ('PENDING_REVIEW', 'APPROVED', 'REJECTED', 'STALE')),
    patch           jsonb       NOT NULL,
    settings        json        NOT NULL,
    base_version    integer     NOT NULL REFERENCES platform_settings_versions (version),
    changed_paths   text[]      NOT NULL,
    selector        jsonb       NOT NULL DEFAULT '{}',
    reason          text        NOT NULL,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When the preview started: a tenant whose stack changed after this is previewed again at its turn.
    previewed_at    timestamptz NOT NULL,
    -- {groups, destructive, failed, notPreviewed, totals}: what the API shows.
    preview         jsonb       NOT NULL,
    -- Per selected tenant: {tenantId, slug, outcome, group, resources: ["op urn", …]}; what a rollout compares with.
    tenants         jsonb       NOT NULL,
    destructive     boolean     NOT NULL,
    decided_by      text,
    decided_at      timestamptz,
    rejection_reason text,
    version         integer     REFERENCES platform_settings_versions (version)
);
CREATE INDEX fleet_changes_status_created ON fleet_changes (status, created_at, id);

-- A rollout applies an approved fleet change's version tenant by tenant, in waves.
CREATE TABLE fleet_rollouts (
    id                uuid        PRIMARY KEY,
    change_id         uuid        NOT NULL UNIQUE REFERENCES fleet_changes (id),
    settings_version  integer     NOT NULL REFERENCES platform_settings_versions (version),
    status            text        NOT NULL CHECK (status IN ('RUNNING', 'PAUSED', 'HALTED', 'COMPLETED', 'ABORTED')),
    -- {canary, growth, concurrency, canaryMaxFailures, waveFailurePercent, allowDestructive}
    config            jsonb       NOT NULL,
    current_wave      integer     NOT NULL DEFAULT 0,
    wave_count        integer     NOT NULL,
    halted_reason     text,
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);

CREATE TABLE fleet_rollout_tenants (
    rollout_id   uuid        NOT NULL REFERENCES fleet_rollouts (id),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    slug         text        NOT NULL,
    wave         integer     NOT NULL,
    position     integer     NOT NULL,
    status       text        NOT NULL CHECK (status IN ('PENDING', 'PREVIEWING', 'APPLYING', 'SUCCEEDED', 'UNCHANGED', 'FAILED', 'SKIPPED', 'HELD')),
    attempts     integer     NOT NULL DEFAULT 0,
    change_id    uuid        REFERENCES tenant_changes (id),
    run_id       uuid,
    reason       text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rollout_id, tenant_id)
);
CREATE INDEX fleet_rollout_tenants_wave ON fleet_rollout_tenants (rollout_id, wave, position);

-- Fleet-wide audit rows (a fleet change, a rollout) belong to no one tenant.
ALTER TABLE provisioning_audit_logs ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE provisioning_audit_logs DROP CONSTRAINT provisioning_audit_logs_entity_check;
ALTER TABLE provisioning_audit_logs ADD CONSTRAINT provisioning_audit_logs_entity_check
    CHECK (entity IN ('tenant', 'phase', 'run', 'change', 'fleet'));

-- Down Migration

ALTER TABLE provisioning_audit_logs DROP CONSTRAINT provisioning_audit_logs_entity_check;
ALTER TABLE provisioning_audit_logs ADD CONSTRAINT provisioning_audit_logs_entity_check CHECK (entity IN ('tenant', 'phase', 'run', 'change'));
DROP TABLE fleet_rollout_tenants;
DROP TABLE fleet_rollouts;
DROP TABLE fleet_changes;
