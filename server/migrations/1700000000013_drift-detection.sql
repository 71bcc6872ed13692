-- Up Migration

-- A fleet drift run: every ACTIVE tenant checked once (scheduled or asked for).
CREATE TABLE drift_runs (
    id            uuid PRIMARY KEY,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    requested_by  text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    total         integer     NOT NULL DEFAULT 0,
    job_id        text,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    -- Touched while a process works the run; a run whose heartbeat stopped is taken over.
    heartbeat_at  timestamptz,
    finished_at   timestamptz
);
-- One fleet run at a time, whichever process asked for it.
CREATE UNIQUE INDEX drift_runs_one_active ON drift_runs ((true)) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX drift_runs_created ON drift_runs (created_at DESC);

-- The tenants of a fleet run and where each one is: PENDING, CHECKING, CHECKED,
-- or SKIPPED (busy with a run of its own; tried again after next_attempt_at,
-- or for good once the run ends).
CREATE TABLE drift_run_tenants (
    run_id           uuid        NOT NULL REFERENCES drift_runs (id) ON DELETE CASCADE,
    tenant_id        uuid        NOT NULL REFERENCES tenants (id),
    state            text        NOT NULL CHECK (state IN ('PENDING', 'CHECKING', 'CHECKED', 'SKIPPED')),
    skips            integer     NOT NULL DEFAULT 0,
    skip_reason      text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    check_id         uuid,
    PRIMARY KEY (run_id, tenant_id)
);
CREATE INDEX drift_run_tenants_claim ON drift_run_tenants (run_id, next_attempt_at) WHERE state IN ('PENDING', 'SKIPPED');

-- One tenant check: the result of a refresh preview.
CREATE TABLE drift_checks (
    id           uuid PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    run_id       uuid        REFERENCES drift_runs (id) ON DELETE SET NULL,
    state        text        NOT NULL CHECK (state IN ('IN_SYNC', 'DRIFTED', 'CHECK_FAILED')),
    reason       text,
    -- Drifted resources: urn, type, phase, drift, properties, differences (path, recorded, actual; secrets redacted).
    resources    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    duration_ms  integer     NOT NULL,
    checked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drift_checks_tenant ON drift_checks (tenant_id, checked_at DESC, id);
CREATE INDEX drift_checks_checked ON drift_checks (checked_at);

-- Each tenant's latest drift state and since when. `drifted` is the last
-- conclusive answer (a failed check says nothing either way); the events
-- fire when it changes.
CREATE TABLE tenant_drift (
    tenant_id        uuid PRIMARY KEY REFERENCES tenants (id),
    state            text        NOT NULL CHECK (state IN ('IN_SYNC', 'DRIFTED', 'CHECK_FAILED')),
    state_since      timestamptz NOT NULL,
    drifted          boolean,
    drifted_since    timestamptz,
    last_check_id    uuid        NOT NULL,
    last_checked_at  timestamptz NOT NULL
);

-- Down Migration

DROP TABLE tenant_drift;
DROP TABLE drift_checks;
DROP TABLE drift_run_tenants;
DROP TABLE drift_runs;
