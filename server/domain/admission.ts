/**
 * Limits on what one principal (an admin token's name) and the whole service
 * may have at once: live tenants, and runs queued or running. Checked in the
 * transaction that adds the tenant or queues the run, under an advisory lock
 * (db/admission.ts), so that they hold exactly with concurrent requests and
 * with several replicas on one database.
 */
import type pg from "pg";
import { liveTenantCount, lockAdmission, pendingRunCount } from "../db/admission.ts";
import { ApiError } from "./errors.ts";

/** Each limit is a count; 0 means no limit. */
export interface AdmissionLimits {
  /** MATIH_MAX_TENANTS_PER_PRINCIPAL: live (not DELETED) tenants one principal requested. */
  readonly tenantsPerPrincipal: number;
  /** MATIH_MAX_TENANTS: live tenants in all. */
  readonly tenants: number;
  /** MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: queued or running runs one principal requested (or approved). */
  readonly pendingRunsPerPrincipal: number;
  /** MATIH_MAX_PENDING_RUNS: queued or running runs in all. */
  readonly pendingRuns: number;
}

export const NO_LIMITS: AdmissionLimits = { tenantsPerPrincipal: 0, tenants: 0, pendingRunsPerPrincipal: 0, pendingRuns: 0 };

/**
 * Takes the admission locks the limits need: the service-wide one when a
 * service-wide limit is set, then the principal's own whenever any limit is
 * (always in that order, so two transactions never wait for each other in a
 * circle). Replicas configured differently still exclude each other on a
 * principal's counts. Re-taking a lock in the same transaction is free.
 */
async function lockFor(db: pg.PoolClient, principal: string, limits: AdmissionLimits, counts: { tenants: boolean; runs: boolean }): Promise<boolean> {
  const service = (counts.tenants && limits.tenants > 0) || (counts.runs && limits.pendingRuns > 0);
  const own = (counts.tenants && limits.tenantsPerPrincipal > 0) || (counts.runs && limits.pendingRunsPerPrincipal > 0);
  if (service) await lockAdmission(db, "service");
  if (service || own) await lockAdmission(db, { principal });
  return service || own;
}

async function checkPendingRuns(db: pg.PoolClient, principal: string, limits: AdmissionLimits): Promise<void> {
  // 429: runs finish, so the same request succeeds later.
  if (limits.pendingRunsPerPrincipal > 0) {
    const mine = await pendingRunCount(db, principal);
    if (mine >= limits.pendingRunsPerPrincipal) {
      throw new ApiError(429, "too_many_pending_runs",
        `${principal} already has ${mine} runs queued or running, the most one principal may have (MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL=${limits.pendingRunsPerPrincipal}); nothing was queued: try again once some have finished`,
        { limit: "MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL", max: limits.pendingRunsPerPrincipal, current: mine, principal });
    }
  }
  if (limits.pendingRuns > 0) {
    const all = await pendingRunCount(db);
    if (all >= limits.pendingRuns) {
      throw new ApiError(429, "too_many_pending_runs",
        `the service already has ${all} runs queued or running, the most it takes (MATIH_MAX_PENDING_RUNS=${limits.pendingRuns}); nothing was queued: try again once some have finished`,
        { limit: "MATIH_MAX_PENDING_RUNS", max: limits.pendingRuns, current: all });
    }
  }
}

/**
 * Before a new tenant is inserted with its provisioning run, in that
 * transaction: refuses with 409 when the principal or the service has as
 * many live tenants as allowed (that changes only when a tenant is torn down
 * or the limit raised), then with 429 when the run would exceed a
 * pending-run limit.
 */
export async function admitTenant(db: pg.PoolClient, principal: string, limits: AdmissionLimits): Promise<void> {
  if (!(await lockFor(db, principal, limits, { tenants: true, runs: true }))) return;
  if (limits.tenantsPerPrincipal > 0) {
    const mine = await liveTenantCount(db, principal);
    if (mine >= limits.tenantsPerPrincipal) {
      throw new ApiError(409, "tenant_limit_reached",
        `${principal} already has ${mine} live tenants, the most one principal may have (MATIH_MAX_TENANTS_PER_PRINCIPAL=${limits.tenantsPerPrincipal}); tear one down or have an operator raise the limit`,
        { limit: "MATIH_MAX_TENANTS_PER_PRINCIPAL", max: limits.tenantsPerPrincipal, current: mine, principal });
    }
  }
  if (limits.tenants > 0) {
    const all = await liveTenantCount(db);
    if (all >= limits.tenants) {
      throw new ApiError(409, "tenant_limit_reached",
        `the service already has ${all} live tenants, the most it takes (MATIH_MAX_TENANTS=${limits.tenants}); tear one down or have an operator raise the limit`,
        { limit: "MATIH_MAX_TENANTS", max: limits.tenants, current: all });
    }
  }
  await checkPendingRuns(db, principal, limits);
}

/**
 * Before a run is queued (retry, roll back, a change's preview or update), in
 * that transaction: refuses with 429 when it would exceed a pending-run limit.
 * Teardowns are not checked, so that a principal at its limit can always
 * clean up; they are counted while they wait or run.
 */
export async function admitRun(db: pg.PoolClient, principal: string, limits: AdmissionLimits): Promise<void> {
  if (!(await lockFor(db, principal, limits, { tenants: false, runs: true }))) return;
  await checkPendingRuns(db, principal, limits);
}

/**
 * Whether one more run fits the pending-run limits now, for runs the service
 * queues at its own pace (a rollout's next tenant): such work waits for room
 * instead of failing. Takes the same locks as admitRun, in the caller's
 * transaction, so the run queued after it is counted by everyone else.
 */
export async function roomForRun(db: pg.PoolClient, principal: string, limits: AdmissionLimits): Promise<boolean> {
  try {
    await admitRun(db, principal, limits);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.statusCode === 429) return false;
    throw error;
  }
}
