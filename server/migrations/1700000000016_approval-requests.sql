-- Up Migration

-- Four eyes on single-person actions. With MATIH_REQUIRE_SEPARATE_APPROVER on,
-- tearing a tenant down or a rollback that deletes stateful phases is asked
-- for, not done: it waits as a change of its own kind for another admin's
-- approval (expiry, rejection and audit as for any change), and names the run
-- its approval queued. Changes from before are updates. A teardown brings the
-- tenant to phase 0, as its run does.
ALTER TABLE tenant_changes
    ADD COLUMN kind text NOT NULL DEFAULT 'update' CHECK (kind IN ('update', 'teardown', 'rollback')),
    ADD COLUMN run_id uuid REFERENCES provisioning_runs (id),
    DROP CONSTRAINT tenant_changes_target_phase_check,
    ADD CONSTRAINT tenant_changes_target_phase_check CHECK (target_phase >= 1 OR (kind = 'teardown' AND target_phase = 0));

-- Down Migration

-- Requests for teardowns and rollbacks have no place in the older schema (no run names them).
DELETE FROM tenant_changes WHERE kind <> 'update';
ALTER TABLE tenant_changes
    DROP CONSTRAINT tenant_changes_target_phase_check,
    DROP COLUMN run_id,
    DROP COLUMN kind,
    ADD CONSTRAINT tenant_changes_target_phase_check CHECK (target_phase >= 1);
