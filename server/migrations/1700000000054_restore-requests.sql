-- Up Migration

-- A restore is reviewed like a change (issue 22): asked for as a change of
-- kind 'restore' awaiting review, performed when an admin approves it. It
-- keeps the tenant's phases, so its target_phase is the tenant's current one.
ALTER TABLE tenant_changes
    DROP CONSTRAINT tenant_changes_kind_check,
    ADD CONSTRAINT tenant_changes_kind_check CHECK (kind IN ('update', 'teardown', 'rollback', 'restore'));

-- Down Migration

-- Restore requests have no place in the older schema.
DELETE FROM tenant_changes WHERE kind = 'restore';
ALTER TABLE tenant_changes
    DROP CONSTRAINT tenant_changes_kind_check,
    ADD CONSTRAINT tenant_changes_kind_check CHECK (kind IN ('update', 'teardown', 'rollback'));
