-- Up Migration

-- The sub-steps of a phase as the run last reported them: a tier change's
-- expand, move, verify, switch and contract inside phase 2 (issue 22). One
-- entry per step, in the order the steps ran, each
-- {step, status, message, at, data?}; status is started, succeeded, failed or
-- skipped. The audit log keeps every transition; this is what the status and
-- the dashboard show now. Empty for phases without sub-steps.
ALTER TABLE run_phases ADD COLUMN steps jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Down Migration

ALTER TABLE run_phases DROP COLUMN steps;
