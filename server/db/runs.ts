import { PHASE_COUNT, PHASES } from "../../model/phases.ts";
import type { RunKind, RunStatus } from "../../api/schemas.ts";
import type { Queryable } from "./pool.ts";

// The API's lists of run kinds and statuses are the database's (its CHECK constraints).
export type { RunKind, RunStatus } from "../../api/schemas.ts";
/** Kinds that change a tenant's infrastructure; the status view and the one-run rule follow these. */
export const CHANGING_KINDS: readonly RunKind[] = ["provision", "retry", "rollback", "teardown", "update"];
export type PhaseStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "ROLLED_BACK";

export interface RunRow {
  id: string;
  tenantId: string;
  kind: RunKind;
  status: RunStatus;
  attempt: number;
  maxAttempts: number;
  engine: string;
  targetPhase: number;
  requestedBy: string;
  jobId: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  error: string | null;
  result: unknown;
  /** The reviewed change this run previews or applies; null for other runs. */
  changeId: string | null;
  createdAt: Date;
  /** Asked with {"skipBackup": true}: a destructive run goes on without the backup it would take first. */
  skipBackup: boolean;
}

export interface PhaseRow {
  runId: string;
  number: number;
  name: string;
  status: PhaseStatus;
  attempts: number;
  startedAt: Date | null;
  completedAt: Date | null;
  error: string | null;
  resourcesDone: number;
  resourcesPending: number;
  /** Sub-steps the run reported inside the phase (a tier change's, in phase 2); empty otherwise. */
  steps: PhaseStepRow[];
}

/** One sub-step of a phase as last reported (run_phases.steps). */
export interface PhaseStepRow {
  step: string;
  status: "started" | "succeeded" | "failed" | "skipped";
  message: string;
  at: string;
  data?: { tables: number; rows: number; bytes: number };
}

export const RUN_COLUMNS = `id, tenant_id AS "tenantId", kind, status, attempt, max_attempts AS "maxAttempts", engine, target_phase AS "targetPhase",
  requested_by AS "requestedBy", job_id AS "jobId", started_at AS "startedAt", completed_at AS "completedAt",
  duration_ms::float8 AS "durationMs", error, result, change_id AS "changeId", created_at AS "createdAt", skip_backup AS "skipBackup"`;
export const PHASE_COLUMNS = `run_id AS "runId", number, name, status, attempts, started_at AS "startedAt", completed_at AS "completedAt", error,
  resources_done AS "resourcesDone", resources_pending AS "resourcesPending", steps`;

/** Runs that only look (preview, drift check): they have no phase rows, and only the newest are kept. */
export const INSPECTION_KINDS: readonly RunKind[] = ["preview", "drift"];
/** Preview and drift-check runs kept per tenant; older ones are pruned. */
export const INSPECTION_RUNS_KEPT = 20;

/**
 * A run and, unless it only inspects, its ten phase rows, all PENDING. A
 * change's preview run keeps its phase rows: its review shows what each phase
 * would do.
 */
export async function insertRun(db: Queryable, run: Pick<RunRow, "id" | "tenantId" | "kind" | "maxAttempts" | "engine" | "targetPhase" | "requestedBy"> & { status?: RunStatus; changeId?: string; skipBackup?: boolean }): Promise<RunRow> {
  const { rows } = await db.query(
    `INSERT INTO provisioning_runs (id, tenant_id, kind, status, max_attempts, engine, target_phase, requested_by, change_id, skip_backup)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${RUN_COLUMNS}`,
    [run.id, run.tenantId, run.kind, run.status ?? "QUEUED", run.maxAttempts, run.engine, run.targetPhase, run.requestedBy, run.changeId ?? null, run.skipBackup ?? false],
  );
  if (!INSPECTION_KINDS.includes(run.kind) || run.changeId) {
    await db.query(
      `INSERT INTO run_phases (run_id, number, name, status) SELECT $1, n, name, 'PENDING' FROM unnest($2::int[], $3::text[]) AS p(n, name)`,
      [run.id, PHASES.map((p) => p.number), PHASES.map((p) => p.name)],
    );
  }
  return rows[0];
}

/**
 * Removes a tenant's finished preview and drift-check runs beyond the newest
 * INSPECTION_RUNS_KEPT. Runs an audit row points at stay (the audit log is
 * append-only); inspection audit rows name their run in `details` instead.
 * A change's preview run is never pruned: its change refers to it.
 */
export async function pruneInspectionRuns(db: Queryable, tenantId: string): Promise<number> {
  const old = `SELECT r.id FROM provisioning_runs r
    WHERE r.tenant_id = $1 AND r.kind = ANY($2::text[]) AND r.change_id IS NULL AND r.status NOT IN ('QUEUED', 'RUNNING')
      AND r.id NOT IN (SELECT id FROM provisioning_runs WHERE tenant_id = $1 AND kind = ANY($2::text[]) AND change_id IS NULL ORDER BY created_at DESC, id DESC LIMIT $3)
      AND NOT EXISTS (SELECT 1 FROM provisioning_audit_logs a WHERE a.run_id = r.id)`;
  await db.query(`DELETE FROM run_phases WHERE run_id IN (${old})`, [tenantId, INSPECTION_KINDS, INSPECTION_RUNS_KEPT]);
  const { rowCount } = await db.query(`DELETE FROM provisioning_runs WHERE id IN (${old})`, [tenantId, INSPECTION_KINDS, INSPECTION_RUNS_KEPT]);
  return rowCount ?? 0;
}

export async function findRun(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<RunRow | undefined> {
  const { rows } = await db.query(`SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0];
}

/** The latest run of a tenant that changes its infrastructure (not previews or drift checks). */
export async function latestRun(db: Queryable, tenantId: string): Promise<RunRow | undefined> {
  const { rows } = await db.query(
    `SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE tenant_id = $1 AND kind IN ('provision', 'retry', 'rollback', 'teardown', 'update')
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    [tenantId],
  );
  return rows[0];
}

export async function activeRun(db: Queryable, tenantId: string): Promise<RunRow | undefined> {
  const { rows } = await db.query(
    `SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING')
       AND (kind IN ('provision', 'retry', 'rollback', 'teardown', 'update') OR change_id IS NOT NULL) LIMIT 1`,
    [tenantId],
  );
  return rows[0];
}

/**
 * The highest phase any provisioning run of the tenant aimed at: everything
 * its stack can hold lies at or below it. A drift check or teardown runs the
 * program that far, so that each provider in state is configured as the
 * program says (a rotated password or kubeconfig), and no further, so a
 * tenant never provisioned past phase 6 needs no Azure. Default 10 for a
 * tenant with no such run.
 */
export async function highestTargetPhase(db: Queryable, tenantId: string): Promise<number> {
  const { rows } = await db.query<{ phase: number | null }>(
    `SELECT max(target_phase)::int AS phase FROM provisioning_runs WHERE tenant_id = $1 AND kind IN ('provision', 'retry', 'update')`,
    [tenantId],
  );
  return rows[0]?.phase ?? PHASE_COUNT;
}

/**
 * How far the tenant's stack reaches now: the target of its latest successful
 * provision, retry, update or rollback (a rollback's target is where it
 * stopped), else the highest any run aimed at. A settings change previews and
 * applies the tenant this far, neither adding phases it never had (a tenant
 * kept at phase 6 needs no Azure) nor removing any.
 */
export async function currentExtent(db: Queryable, tenantId: string): Promise<number> {
  const { rows } = await db.query<{ phase: number }>(
    `SELECT target_phase AS phase FROM provisioning_runs WHERE tenant_id = $1 AND status = 'SUCCEEDED' AND kind IN ('provision', 'retry', 'update', 'rollback')
     ORDER BY completed_at DESC NULLS LAST, created_at DESC LIMIT 1`,
    [tenantId],
  );
  return rows[0]?.phase ?? highestTargetPhase(db, tenantId);
}

/** Whether an operation that creates resources ever started for the tenant: only then has it a stack to preview. */
export async function hasStack(db: Queryable, tenantId: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM provisioning_runs WHERE tenant_id = $1 AND kind IN ('provision', 'retry', 'update') AND started_at IS NOT NULL) AS "has"`,
    [tenantId],
  );
  return rows[0].has === true;
}

export async function phasesOf(db: Queryable, runId: string): Promise<PhaseRow[]> {
  const { rows } = await db.query(`SELECT ${PHASE_COLUMNS} FROM run_phases WHERE run_id = $1 ORDER BY number`, [runId]);
  return rows;
}

export async function updateRun(db: Queryable, id: string, change: Partial<Pick<RunRow, "status" | "attempt" | "jobId" | "error" | "result">> & { started?: boolean; finished?: boolean }): Promise<RunRow> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  if (change.status !== undefined) sets.push(`status = $${values.push(change.status)}`);
  if (change.attempt !== undefined) sets.push(`attempt = $${values.push(change.attempt)}`);
  if (change.jobId !== undefined) sets.push(`job_id = $${values.push(change.jobId)}`);
  if (change.error !== undefined) sets.push(`error = $${values.push(change.error)}`);
  if (change.result !== undefined) sets.push(`result = $${values.push(JSON.stringify(change.result))}::jsonb`);
  if (change.started) sets.push("started_at = COALESCE(started_at, now())");
  if (change.finished) sets.push("completed_at = now()", "duration_ms = (extract(epoch FROM now() - COALESCE(started_at, created_at)) * 1000)::bigint");
  const { rows } = await db.query(`UPDATE provisioning_runs SET ${sets.join(", ")} WHERE id = $1 RETURNING ${RUN_COLUMNS}`, values);
  return rows[0];
}

export async function updatePhase(
  db: Queryable,
  runId: string,
  number: number,
  change: { status: PhaseStatus; error?: string | null; resourcesDone?: number; resourcesPending?: number; started?: boolean; completed?: boolean; countAttempt?: boolean },
): Promise<PhaseRow> {
  const sets = ["status = $3"];
  const values: unknown[] = [runId, number, change.status];
  if (change.error !== undefined) sets.push(`error = $${values.push(change.error)}`);
  if (change.resourcesDone !== undefined) sets.push(`resources_done = $${values.push(change.resourcesDone)}`);
  if (change.resourcesPending !== undefined) sets.push(`resources_pending = $${values.push(change.resourcesPending)}`);
  if (change.started) sets.push("started_at = now()", "completed_at = NULL");
  if (change.completed) sets.push("completed_at = now()");
  if (change.countAttempt) sets.push("attempts = attempts + 1");
  const { rows } = await db.query(`UPDATE run_phases SET ${sets.join(", ")} WHERE run_id = $1 AND number = $2 RETURNING ${PHASE_COLUMNS}`, values);
  return rows[0];
}

/**
 * Whether a run that changes infrastructure started after `since` (another
 * update, a retry, a rollback): a plan made before it no longer describes the stack.
 */
export async function changedSince(db: Queryable, tenantId: string, since: Date, exceptRunId?: string): Promise<RunRow | undefined> {
  const { rows } = await db.query(
    `SELECT ${RUN_COLUMNS} FROM provisioning_runs WHERE tenant_id = $1 AND kind IN ('provision', 'retry', 'rollback', 'teardown', 'update')
       AND COALESCE(started_at, created_at) > $2 AND id IS DISTINCT FROM $3 ORDER BY created_at DESC LIMIT 1`,
    [tenantId, since, exceptRunId ?? null],
  );
  return rows[0];
}
