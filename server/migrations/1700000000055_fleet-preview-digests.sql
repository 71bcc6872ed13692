-- Up Migration

-- What a background fleet preview learnt of each tenant, kept as it goes
-- (issue 23): a process stopped mid-preview (a restart, a crash) leaves them,
-- and the next process previews only the tenants without one. A digest is
-- the tenant's group key and counts (operations, resource types, property
-- paths; no values), as the grouping keeps it in memory. Removed with the
-- change's preview outcome.
CREATE TABLE fleet_change_preview_digests (
    change_id uuid NOT NULL REFERENCES fleet_changes(id) ON DELETE CASCADE,
    slug text NOT NULL,
    digest jsonb NOT NULL,
    PRIMARY KEY (change_id, slug)
);

-- Down Migration

DROP TABLE fleet_change_preview_digests;
