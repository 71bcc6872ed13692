/**
 * Drift detection's tables: fleet runs and their tenants, each tenant check,
 * and each tenant's latest drift state (see migration 1700000000013).
 */
import type { DriftedResource } from "../../automation/index.ts";
import { isUniqueViolation, type Queryable } from "./pool.ts";

export type DriftState = "IN_SYNC" | "DRIFTED" | "CHECK_FAILED";
export type DriftRunStatus = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED";
export type DriftTrigger = "schedule" | "manual";

export interface DriftRunRow {
  id: string;
  trigger: DriftTrigger;
  requestedBy: string;
  status: DriftRunStatus;
  total: number;
  checked: number;
  drifted: number;
  failed: number;
  skipped: number;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface DriftCheckRow {
  id: string;
  tenantId: string;
  runId: string | null;
  state: DriftState;
  reason: string | null;
  resources: DriftedResource[];
  durationMs: number;
  checkedAt: Date;
}

export interface TenantDriftRow {
  tenantId: string;
  slug: string;
  tier: string;
  state: DriftState | null;
  stateSince: Date | null;
  drifted: boolean | null;
  driftedSince: Date | null;
  lastCheckId: string | null;
  lastCheckedAt: Date | null;
}

const RUN_SELECT = `SELECT r.id, r.trigger, r.requested_by AS "requestedBy", r.status, r.total, r.error,
    r.created_at AS "createdAt", r.started_at AS "startedAt", r.finished_at AS "finishedAt",
    count(t.tenant_id) FILTER (WHERE t.state = 'CHECKED')::int AS checked,
    count(c.id) FILTER (WHERE c.state = 'DRIFTED')::int AS drifted,
    count(c.id) FILTER (WHERE c.state = 'CHECK_FAILED')::int AS failed,
    count(t.tenant_id) FILTER (WHERE t.state = 'SKIPPED')::int AS skipped
  FROM drift_runs r
  LEFT JOIN drift_run_tenants t ON t.run_id = r.id
  LEFT JOIN drift_checks c ON c.id = t.check_id`;

/**
 * Creates a QUEUED fleet run with every ACTIVE tenant in it. Returns null when
 * another fleet run is queued or running (one at a time, across processes).
 */
export async function insertDriftRun(db: Queryable, run: { id: string; trigger: DriftTrigger; requestedBy: string }): Promise<{ id: string; total: number } | null> {
  try {
    await db.query("SAVEPOINT drift_run_insert");
    await db.query(`INSERT INTO drift_runs (id, trigger, requested_by, status) VALUES ($1, $2, $3, 'QUEUED')`, [run.id, run.trigger, run.requestedBy]);
  } catch (error) {
    if (isUniqueViolation(error, "drift_runs_one_active")) {
      await db.query("ROLLBACK TO SAVEPOINT drift_run_insert");
      return null;
    }
    throw error;
  }
  const { rowCount } = await db.query(
    `INSERT INTO drift_run_tenants (run_id, tenant_id, state) SELECT $1, id, 'PENDING' FROM tenants WHERE status = 'ACTIVE'`,
    [run.id],
  );
  await db.query(`UPDATE drift_runs SET total = $2 WHERE id = $1`, [run.id, rowCount ?? 0]);
  return { id: run.id, total: rowCount ?? 0 };
}

/** The queued or running fleet run; `worked` while some process's heartbeat on it is fresher than `staleSeconds`. */
export async function activeDriftRun(db: Queryable, staleSeconds = 60): Promise<{ id: string; status: DriftRunStatus; worked: boolean } | undefined> {
  const { rows } = await db.query(
    `SELECT id, status, COALESCE(heartbeat_at > now() - make_interval(secs => $1), false) AS worked FROM drift_runs WHERE status IN ('QUEUED', 'RUNNING')`,
    [staleSeconds],
  );
  return rows[0];
}

export async function touchDriftRun(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE drift_runs SET heartbeat_at = now() WHERE id = $1`, [id]);
}

export async function setDriftRunJob(db: Queryable, id: string, jobId: string): Promise<void> {
  await db.query(`UPDATE drift_runs SET job_id = $2 WHERE id = $1`, [id, jobId]);
}

export async function findDriftRun(db: Queryable, id: string): Promise<DriftRunRow | undefined> {
  const { rows } = await db.query(`${RUN_SELECT} WHERE r.id = $1 GROUP BY r.id`, [id]);
  return rows[0];
}

export async function latestDriftRun(db: Queryable, options: { succeeded?: boolean } = {}): Promise<DriftRunRow | undefined> {
  const where = options.succeeded ? `WHERE r.status = 'SUCCEEDED'` : "";
  const order = options.succeeded ? "r.finished_at DESC" : "r.created_at DESC";
  const { rows } = await db.query(`${RUN_SELECT} ${where} GROUP BY r.id ORDER BY ${order}, r.id DESC LIMIT 1`);
  return rows[0];
}

/**
 * Claims the run for this process: marks it RUNNING and starts its heartbeat.
 * A run another process works (heartbeat fresher than `staleSeconds`) is
 * `busy`; taking over a run whose process stopped puts the tenants it left
 * CHECKING back to PENDING.
 */
export async function beginDriftRun(db: Queryable, id: string, staleSeconds = 60): Promise<"started" | "resumed" | "busy" | "finished"> {
  const { rows } = await db.query(
    `UPDATE drift_runs SET status = 'RUNNING', started_at = COALESCE(started_at, now()), heartbeat_at = now()
     WHERE id = $1 AND (status = 'QUEUED' OR (status = 'RUNNING' AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))))
     RETURNING (started_at < now()) AS resumed`,
    [id, staleSeconds],
  );
  if (rows.length === 0) {
    const { rows: current } = await db.query(`SELECT status FROM drift_runs WHERE id = $1`, [id]);
    return current[0]?.status === "RUNNING" ? "busy" : "finished";
  }
  await db.query(`UPDATE drift_run_tenants SET state = 'PENDING' WHERE run_id = $1 AND state = 'CHECKING'`, [id]);
  return rows[0].resumed ? "resumed" : "started";
}

/** This process stops working the run (shutdown): another may take it over at once. */
export async function releaseDriftRun(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE drift_runs SET heartbeat_at = NULL WHERE id = $1 AND status = 'RUNNING'`, [id]);
}

/**
 * Takes one tenant that is due for a check (never one another worker holds);
 * `claimedAt` is the database's clock, so that a run starting after the claim
 * can be told apart from one before it whatever the process's clock says.
 */
export async function claimDriftTenant(db: Queryable, runId: string, maxSkips: number): Promise<{ tenantId: string; claimedAt: Date } | undefined> {
  const { rows } = await db.query(
    `UPDATE drift_run_tenants SET state = 'CHECKING'
     WHERE (run_id, tenant_id) = (
       SELECT run_id, tenant_id FROM drift_run_tenants
       WHERE run_id = $1 AND state IN ('PENDING', 'SKIPPED') AND skips < $2 AND next_attempt_at <= now()
       ORDER BY skips, tenant_id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING tenant_id AS "tenantId", clock_timestamp() AS "claimedAt"`,
    [runId, maxSkips],
  );
  return rows[0];
}

/** The tenant is busy: try it again after `retrySeconds` (or never, with `final`). */
export async function skipDriftTenant(db: Queryable, runId: string, tenantId: string, reason: string, retrySeconds: number, options: { final?: boolean; maxSkips: number }): Promise<void> {
  await db.query(
    `UPDATE drift_run_tenants SET state = 'SKIPPED', skip_reason = $3,
       skips = CASE WHEN $5 THEN $6 ELSE skips + 1 END, next_attempt_at = now() + make_interval(secs => $4)
     WHERE run_id = $1 AND tenant_id = $2`,
    [runId, tenantId, reason, retrySeconds, options.final ?? false, options.maxSkips],
  );
}

/** Puts a claimed tenant back untouched (this process is stopping). */
export async function releaseDriftTenant(db: Queryable, runId: string, tenantId: string): Promise<void> {
  await db.query(`UPDATE drift_run_tenants SET state = 'PENDING' WHERE run_id = $1 AND tenant_id = $2 AND state = 'CHECKING'`, [runId, tenantId]);
}

/** What is left of a run: tenants due now, and when the next skipped one may be tried again. */
export async function driftRunBacklog(db: Queryable, runId: string, maxSkips: number): Promise<{ due: number; checking: number; nextRetryAt: Date | null }> {
  const { rows } = await db.query(
    `SELECT count(*) FILTER (WHERE state IN ('PENDING', 'SKIPPED') AND skips < $2 AND next_attempt_at <= now())::int AS due,
            count(*) FILTER (WHERE state = 'CHECKING')::int AS checking,
            min(next_attempt_at) FILTER (WHERE state = 'SKIPPED' AND skips < $2) AS "nextRetryAt"
     FROM drift_run_tenants WHERE run_id = $1`,
    [runId, maxSkips],
  );
  return rows[0];
}

export async function finishDriftRun(db: Queryable, id: string, status: "SUCCEEDED" | "FAILED", error: string | null = null): Promise<void> {
  await db.query(`UPDATE drift_runs SET status = $2, error = $3, finished_at = now() WHERE id = $1`, [id, status, error]);
}

export interface RecordedCheck {
  check: DriftCheckRow;
  /** The last conclusive answer before this check (null: never known), and now. */
  wasDrifted: boolean | null;
  isDrifted: boolean | null;
  /** When the tenant started drifting, for a drift that this check finds resolved. */
  driftedSince: Date | null;
  /** Since when the tenant's checks have found the state this one found (this check's time when the state changed). */
  stateSince: Date;
}

/**
 * Stores one check and moves the tenant's drift state, in the caller's
 * transaction; the caller holds the tenant's row lock, so two checks of one
 * tenant never interleave here.
 */
export async function recordDriftCheck(
  db: Queryable,
  check: { id: string; tenantId: string; runId: string | null; state: DriftState; reason: string | null; resources: readonly DriftedResource[]; durationMs: number },
): Promise<RecordedCheck> {
  const { rows: inserted } = await db.query(
    `INSERT INTO drift_checks (id, tenant_id, run_id, state, reason, resources, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING id, tenant_id AS "tenantId", run_id AS "runId", state, reason, resources, duration_ms AS "durationMs", checked_at AS "checkedAt"`,
    [check.id, check.tenantId, check.runId, check.state, check.reason, JSON.stringify(check.resources), Math.round(check.durationMs)],
  );
  const row = inserted[0] as DriftCheckRow;
  const { rows: before } = await db.query(`SELECT state, drifted, drifted_since AS "driftedSince" FROM tenant_drift WHERE tenant_id = $1 FOR UPDATE`, [check.tenantId]);
  const previous = before[0] as { state: DriftState; drifted: boolean | null; driftedSince: Date | null } | undefined;
  const wasDrifted = previous?.drifted ?? null;
  const isDrifted = check.state === "CHECK_FAILED" ? wasDrifted : check.state === "DRIFTED";
  const { rows: upserted } = await db.query(
    `INSERT INTO tenant_drift (tenant_id, state, state_since, drifted, drifted_since, last_check_id, last_checked_at)
     VALUES ($1, $2, $4, $5, CASE WHEN $5 THEN $4::timestamptz END, $3, $4)
     ON CONFLICT (tenant_id) DO UPDATE SET
       state = EXCLUDED.state,
       state_since = CASE WHEN tenant_drift.state = EXCLUDED.state THEN tenant_drift.state_since ELSE EXCLUDED.state_since END,
       drifted = EXCLUDED.drifted,
       drifted_since = CASE WHEN EXCLUDED.drifted IS NOT TRUE THEN NULL
                            WHEN tenant_drift.drifted IS TRUE THEN tenant_drift.drifted_since ELSE EXCLUDED.state_since END,
       last_check_id = EXCLUDED.last_check_id,
       last_checked_at = EXCLUDED.last_checked_at
     RETURNING state_since AS "stateSince"`,
    [check.tenantId, check.state, row.id, row.checkedAt, isDrifted],
  );
  if (check.runId) await db.query(`UPDATE drift_run_tenants SET state = 'CHECKED', check_id = $3 WHERE run_id = $1 AND tenant_id = $2`, [check.runId, check.tenantId, row.id]);
  return { check: row, wasDrifted, isDrifted, driftedSince: previous?.driftedSince ?? null, stateSince: upserted[0].stateSince };
}

/** Every live tenant with its latest drift state (null: never checked), optionally only those in `state`. */
export async function tenantDriftStates(db: Queryable, filter: { state?: DriftState } = {}): Promise<TenantDriftRow[]> {
  const values: unknown[] = [];
  const where = filter.state ? `AND d.state = $${values.push(filter.state)}` : "";
  const { rows } = await db.query(
    `SELECT t.id AS "tenantId", t.slug, t.tier, d.state, d.state_since AS "stateSince", d.drifted, d.drifted_since AS "driftedSince",
            d.last_check_id AS "lastCheckId", d.last_checked_at AS "lastCheckedAt"
     FROM tenants t LEFT JOIN tenant_drift d ON d.tenant_id = t.id
     WHERE t.status = 'ACTIVE' ${where} ORDER BY t.slug`,
    values,
  );
  return rows;
}

export async function tenantDriftState(db: Queryable, tenantId: string): Promise<Omit<TenantDriftRow, "slug" | "tier"> | undefined> {
  const { rows } = await db.query(
    `SELECT tenant_id AS "tenantId", state, state_since AS "stateSince", drifted, drifted_since AS "driftedSince",
            last_check_id AS "lastCheckId", last_checked_at AS "lastCheckedAt" FROM tenant_drift WHERE tenant_id = $1`,
    [tenantId],
  );
  return rows[0];
}

export async function driftHistory(db: Queryable, tenantId: string, page: { limit: number; offset: number }): Promise<{ items: DriftCheckRow[]; total: number }> {
  const { rows } = await db.query(
    `SELECT id, tenant_id AS "tenantId", run_id AS "runId", state, reason, resources, duration_ms AS "durationMs", checked_at AS "checkedAt",
            count(*) OVER ()::int AS total
     FROM drift_checks WHERE tenant_id = $1 ORDER BY checked_at DESC, id DESC LIMIT $2 OFFSET $3`,
    [tenantId, page.limit, page.offset],
  );
  const total = rows[0]?.total ?? (await db.query(`SELECT count(*)::int AS n FROM drift_checks WHERE tenant_id = $1`, [tenantId])).rows[0].n;
  return { items: rows.map(({ total: _t, ...r }) => r as DriftCheckRow), total };
}

/** Forgets checks and finished runs older than the retention; each tenant's latest check stays. */
export async function pruneDrift(db: Queryable, retentionDays: number): Promise<{ checks: number; runs: number }> {
  const checks = await db.query(
    `DELETE FROM drift_checks c WHERE c.checked_at < now() - make_interval(days => $1)
       AND NOT EXISTS (SELECT 1 FROM tenant_drift d WHERE d.last_check_id = c.id)`,
    [retentionDays],
  );
  const runs = await db.query(`DELETE FROM drift_runs WHERE status IN ('SUCCEEDED', 'FAILED') AND finished_at < now() - make_interval(days => $1)`, [retentionDays]);
  return { checks: checks.rowCount ?? 0, runs: runs.rowCount ?? 0 };
}

/** For the metrics: live tenants whose last conclusive check found drift, and the last successful fleet run. */
export async function driftGauges(db: Queryable): Promise<{ drifted: number; lastSuccess: Date | null }> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM tenant_drift d JOIN tenants t ON t.id = d.tenant_id WHERE d.drifted AND t.status = 'ACTIVE') AS drifted,
            (SELECT max(finished_at) FROM drift_runs WHERE status = 'SUCCEEDED') AS "lastSuccess"`,
  );
  return rows[0];
}
