-- Up Migration

-- A fleet change previewed in the background (issue 23): an engine that
-- previews one stack at a time (the Pulumi engine) takes seconds to minutes a
-- tenant, so the change is recorded PREVIEWING at once and a queued job
-- previews its tenants, then makes it PENDING_REVIEW (or PREVIEW_FAILED).
-- `previewed_at` is set when that job starts (a tenant whose stack changes
-- after it is previewed again at its rollout turn); `preview_progress` counts
-- the tenants done, for the API and the dashboard while it runs.
ALTER TABLE fleet_changes DROP CONSTRAINT fleet_changes_status_check;
ALTER TABLE fleet_changes ADD CONSTRAINT fleet_changes_status_check
    CHECK (status IN ('PREVIEWING', 'PREVIEW_FAILED', 'PENDING_REVIEW', 'APPROVED', 'REJECTED', 'STALE'));
ALTER TABLE fleet_changes ALTER COLUMN previewed_at DROP NOT NULL;
ALTER TABLE fleet_changes ADD COLUMN preview_error text;
ALTER TABLE fleet_changes ADD COLUMN preview_progress jsonb;

-- Down Migration

DELETE FROM fleet_changes WHERE status IN ('PREVIEWING', 'PREVIEW_FAILED') AND id NOT IN (SELECT change_id FROM fleet_rollouts);
ALTER TABLE fleet_changes DROP COLUMN preview_progress;
ALTER TABLE fleet_changes DROP COLUMN preview_error;
ALTER TABLE fleet_changes ALTER COLUMN previewed_at SET NOT NULL;
ALTER TABLE fleet_changes DROP CONSTRAINT fleet_changes_status_check;
ALTER TABLE fleet_changes ADD CONSTRAINT fleet_changes_status_check CHECK (status IN ('PENDING_REVIEW', 'APPROVED', 'REJECTED', 'STALE'));
