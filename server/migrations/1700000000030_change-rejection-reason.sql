-- Up Migration

-- Why an admin rejected a change, apart from `error` (what went wrong with its
-- preview or its apply): a rejected PREVIEW_FAILED change keeps both, and a
-- client reading `error` no longer takes a reviewer's note for a failure.
ALTER TABLE tenant_changes ADD COLUMN rejection_reason text;
UPDATE tenant_changes SET rejection_reason = error, error = NULL WHERE status = 'REJECTED' AND error IS NOT NULL;

-- Down Migration

UPDATE tenant_changes SET error = rejection_reason WHERE status = 'REJECTED' AND rejection_reason IS NOT NULL;
ALTER TABLE tenant_changes DROP COLUMN rejection_reason;
