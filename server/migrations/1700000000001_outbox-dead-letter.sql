-- Up Migration

-- A mail the SMTP server keeps refusing (a bad address, say) is given up
-- after a number of attempts instead of holding the tenant's later mails
-- forever. Events are never given up: a broker outage only delays them.
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;

-- The relay's claim looks up a tenant's earliest pending row.
CREATE INDEX outbox_pending_tenant ON outbox (kind, tenant_id, seq) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Down Migration

DROP INDEX outbox_pending_tenant;
ALTER TABLE outbox DROP COLUMN failed_at;
