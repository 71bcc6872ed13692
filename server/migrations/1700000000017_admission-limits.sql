-- Up Migration

-- The per-principal tenant limit (MATIH_MAX_TENANTS_PER_PRINCIPAL) counts a
-- principal's live tenants under a lock, in the transaction that adds one:
-- an index keeps that count from reading the whole table as tenants grow.
CREATE INDEX tenants_live_requested_by ON tenants (requested_by) WHERE status <> 'DELETED';

-- Down Migration

DROP INDEX tenants_live_requested_by;
