-- Up Migration

CREATE TABLE tenants (
    id                        uuid PRIMARY KEY,
    slug                      text        NOT NULL,
    display_name              text        NOT NULL,
    tier                      text        NOT NULL CHECK (tier IN ('free', 'professional', 'enterprise')),
    region                    text        NOT NULL,
    admin_email               text        NOT NULL,
    requested_by              text        NOT NULL,
    status                    text        NOT NULL CHECK (status IN ('PROVISIONING', 'ACTIVE', 'FAILED', 'DEPROVISIONING', 'DELETED')),
    provisioning_started_at   timestamptz,
    provisioning_completed_at timestamptz,
    provisioning_error        text,
    outputs                   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    deleted_at                timestamptz
);
-- A slug belongs to one live tenant; a deleted tenant's slug may be reused.
CREATE UNIQUE INDEX tenants_live_slug ON tenants (slug) WHERE status <> 'DELETED';
CREATE INDEX tenants_status_tier ON tenants (status, tier);
CREATE INDEX tenants_created ON tenants (created_at, id);

CREATE TABLE provisioning_runs (
    id            uuid PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    kind          text        NOT NULL CHECK (kind IN ('provision', 'retry', 'rollback', 'teardown', 'preview', 'drift')),
    status        text        NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    attempt       integer     NOT NULL DEFAULT 0,
    max_attempts  integer     NOT NULL,
    engine        text        NOT NULL,
    target_phase  integer     NOT NULL CHECK (target_phase BETWEEN 0 AND 10),
    requested_by  text        NOT NULL,
    job_id        text,
    started_at    timestamptz,
    completed_at  timestamptz,
    duration_ms   bigint,
    error         text,
    result        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- At most one provisioning or teardown run per tenant is queued or running.
CREATE UNIQUE INDEX provisioning_runs_one_active ON provisioning_runs (tenant_id)
    WHERE status IN ('QUEUED', 'RUNNING') AND kind IN ('provision', 'retry', 'rollback', 'teardown');
CREATE INDEX provisioning_runs_tenant ON provisioning_runs (tenant_id, created_at DESC);

CREATE TABLE run_phases (
    run_id             uuid        NOT NULL REFERENCES provisioning_runs (id),
    number             integer     NOT NULL CHECK (number BETWEEN 1 AND 10),
    name               text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'ROLLED_BACK')),
    attempts           integer     NOT NULL DEFAULT 0,
    started_at         timestamptz,
    completed_at       timestamptz,
    error              text,
    resources_done     integer     NOT NULL DEFAULT 0,
    resources_pending  integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, number)
);

CREATE TABLE provisioning_audit_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id),
    run_id      uuid        REFERENCES provisioning_runs (id),
    entity      text        NOT NULL CHECK (entity IN ('tenant', 'phase', 'run')),
    phase       integer,
    actor       text        NOT NULL,
    from_status text,
    to_status   text        NOT NULL,
    message     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX provisioning_audit_logs_tenant ON provisioning_audit_logs (tenant_id, id);

-- The audit log is append-only: rows can be added, never changed or removed.
CREATE FUNCTION provisioning_audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'provisioning_audit_logs is append-only';
END;
$$;
CREATE TRIGGER provisioning_audit_logs_no_update BEFORE UPDATE OR DELETE ON provisioning_audit_logs
    FOR EACH ROW EXECUTE FUNCTION provisioning_audit_logs_append_only();

CREATE TABLE idempotency_keys (
    key          text        NOT NULL,
    principal    text        NOT NULL,
    request_hash text        NOT NULL,
    status_code  integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

-- Transactional outbox: events and notifications commit with the state change that causes them.
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind          text        NOT NULL CHECK (kind IN ('event', 'email')),
    tenant_id     uuid        REFERENCES tenants (id),
    type          text        NOT NULL,
    payload       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_unsent ON outbox (kind, seq) WHERE sent_at IS NULL;

-- State the render engine recorded per tenant, shared by every service process.
CREATE TABLE render_states (
    slug        text PRIMARY KEY,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE render_states;
DROP TABLE outbox;
DROP TABLE idempotency_keys;
DROP TRIGGER provisioning_audit_logs_no_update ON provisioning_audit_logs;
DROP FUNCTION provisioning_audit_logs_append_only();
DROP TABLE provisioning_audit_logs;
DROP TABLE run_phases;
DROP TABLE provisioning_runs;
DROP TABLE tenants;
