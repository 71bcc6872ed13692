-- Up Migration

-- Phase numbers and tiers are checked against the phase registry and the tier
-- table (model/) where requests come in; the database no longer carries a copy
-- of either, so that adding a phase or a tier needs no migration. What stays
-- here is what no code change can make valid: a negative target or a phase
-- number below 1.
ALTER TABLE provisioning_runs DROP CONSTRAINT IF EXISTS provisioning_runs_target_phase_check;
ALTER TABLE provisioning_runs ADD CONSTRAINT provisioning_runs_target_phase_check CHECK (target_phase >= 0);
ALTER TABLE run_phases DROP CONSTRAINT IF EXISTS run_phases_number_check;
ALTER TABLE run_phases ADD CONSTRAINT run_phases_number_check CHECK (number >= 1);
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_tier_check;

-- The spec is stored as requested: when it was asked for is part of it (the
-- Namespace annotation shows it), not the row's creation time. The service
-- always writes it; the default only serves rows written by other means.
-- Tenants from before this column keep the time they were recorded.
ALTER TABLE tenants ADD COLUMN requested_at timestamptz NOT NULL DEFAULT now();
UPDATE tenants SET requested_at = created_at;

-- Down Migration

ALTER TABLE tenants DROP COLUMN requested_at;
ALTER TABLE tenants DROP CONSTRAINT tenants_tier_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_tier_check CHECK (tier IN ('free', 'professional', 'enterprise'));
ALTER TABLE run_phases DROP CONSTRAINT run_phases_number_check;
ALTER TABLE run_phases ADD CONSTRAINT run_phases_number_check CHECK (number BETWEEN 1 AND 10);
ALTER TABLE provisioning_runs DROP CONSTRAINT provisioning_runs_target_phase_check;
ALTER TABLE provisioning_runs ADD CONSTRAINT provisioning_runs_target_phase_check CHECK (target_phase BETWEEN 0 AND 10);
