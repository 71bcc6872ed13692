/**
 * Finishes runs whose job is over but that never finished themselves. A worker
 * killed on a run's final attempt leaves the run RUNNING; the queue fails the
 * job once its heartbeat lapses, but nothing else would ever touch the run,
 * and the tenant would stay PROVISIONING, UPDATING (or DEPROVISIONING) with its slug
 * taken and every request refused with 409. Every service process sweeps, so
 * one surviving process is enough; the run row's lock makes the sweep
 * idempotent across processes.
 */
import type pg from "pg";
import { appendAudit } from "../db/audit.ts";
import { previousWorkerWait, type RunQueue } from "../db/job-queue.ts";
import { withTransaction } from "../db/pool.ts";
import { updateRun } from "../db/runs.ts";
import type { RunExecutor } from "./run-executor.ts";

/** Job states in which a job will still run (or is running): its run is not orphaned. */
const LIVE_JOB_STATES = new Set(["created", "retry", "active"]);

export interface RunSweeperDeps {
  pool: pg.Pool;
  queue: RunQueue;
  executor: RunExecutor;
  log: { warn(obj: object, msg: string): void };
  /**
   * How long an inspection (a preview or drift check run inside a request,
   * not a job) can possibly run: the engine's time limit plus a margin.
   * One still RUNNING after that lost its process. Default 1 h 5 min.
   */
  inspectionLimitMs?: number;
}

/** The engine's default operation limit (MATIH_OPERATION_TIMEOUT_SECONDS, 3600) plus five minutes. */
const DEFAULT_INSPECTION_LIMIT_MS = 3_900_000;

function reasonOf(job: { state: string; output: unknown } | null): string {
  if (!job) return "the run's job is gone from the queue and no attempt is left";
  const output = job.output as { message?: unknown } | null;
  const detail = output && typeof output.message === "string" && output.message ? `: ${output.message.slice(0, 500)}` : "";
  if (job.state === "failed") return `the last attempt ended without a result (its worker stopped or failed unexpectedly${detail}); no attempt is left`;
  return `the run's job was ${job.state} before the run finished; no attempt is left`;
}

export class RunSweeper {
  private readonly deps: RunSweeperDeps;
  /** Runs whose stopped worker was already logged, with the attempt it held: said once per attempt. */
  private readonly stalledLogged = new Map<string, number>();

  constructor(deps: RunSweeperDeps) {
    this.deps = deps;
  }

  /** Fails every unfinished run whose job will not run again, and every inspection that outlived its process; returns how many. */
  async sweep(): Promise<number> {
    return (await this.sweepJobRuns()) + (await this.sweepInspections());
  }

  /**
   * Previews and drift checks run inside the request that asked for them and
   * have no job: a process killed during one leaves its run RUNNING, which
   * blocks nothing but would show as running for good. Past the engine's time
   * limit it cannot still be running anywhere.
   */
  private async sweepInspections(): Promise<number> {
    const limitMs = this.deps.inspectionLimitMs ?? DEFAULT_INSPECTION_LIMIT_MS;
    const { rows } = await this.deps.pool.query<{ id: string; tenantId: string; kind: string }>(
      `SELECT id, tenant_id AS "tenantId", kind FROM provisioning_runs
       WHERE status = 'RUNNING' AND kind IN ('preview', 'drift') AND change_id IS NULL
         AND COALESCE(started_at, created_at) < now() - make_interval(secs => $1)`,
      [limitMs / 1000],
    );
    let failed = 0;
    for (const run of rows) {
      const error = `the process running this ${run.kind === "drift" ? "drift check" : "preview"} stopped before it finished`;
      const done = await withTransaction(this.deps.pool, async (db) => {
        const { rowCount } = await db.query(`SELECT 1 FROM provisioning_runs WHERE id = $1 AND status = 'RUNNING' FOR UPDATE`, [run.id]);
        if (!rowCount) return false;
        await updateRun(db, run.id, { status: "FAILED", error, finished: true });
        await appendAudit(db, { tenantId: run.tenantId, entity: "run", actor: "system", from: "RUNNING", to: "FAILED", message: `${run.kind} failed: ${error}`, details: { runId: run.id, kind: run.kind } });
        return true;
      });
      if (done) {
        failed += 1;
        this.deps.log.warn({ runId: run.id, kind: run.kind }, "failed an inspection run whose process stopped");
      }
    }
    return failed;
  }

  private async sweepJobRuns(): Promise<number> {
    const { rows } = await this.deps.pool.query<{ id: string; jobId: string; status: string; kind: string; attempt: number; tenantId: string }>(
      `SELECT id, job_id AS "jobId", status, kind, attempt, tenant_id AS "tenantId" FROM provisioning_runs
       WHERE status IN ('QUEUED', 'RUNNING') AND (kind IN ('provision', 'retry', 'rollback', 'teardown', 'update') OR change_id IS NOT NULL) AND job_id IS NOT NULL`,
    );
    const unfinished = new Set(rows.map((r) => r.id));
    for (const id of this.stalledLogged.keys()) if (!unfinished.has(id)) this.stalledLogged.delete(id);
    let failed = 0;
    for (const run of rows) {
      const job = await this.deps.queue.jobState(run.jobId);
      if (job && LIVE_JOB_STATES.has(job.state)) {
        if (run.status === "RUNNING") await this.noteStoppedWorker(run);
        continue;
      }
      // Checked again under the run's lock, in case it finished or its job was retried meanwhile.
      const done = await this.deps.executor.failUnfinished(run.id, (job?.retryCount ?? 0) + 1, reasonOf(job), async (db) => {
        const now = await this.deps.queue.jobState(run.jobId, db);
        return now !== null && LIVE_JOB_STATES.has(now.state);
      });
      if (done) {
        failed += 1;
        this.deps.log.warn({ runId: run.id, jobState: job?.state ?? "gone" }, "failed a run whose job ended without finishing it");
      }
    }
    return failed;
  }

  /**
   * A RUNNING run whose worker stopped (a crash, or this very process restarted) shows no progress until
   * the queue gives up on that worker; the log says so, once per attempt, with how long that takes at most.
   */
  private async noteStoppedWorker(run: { id: string; jobId: string; kind: string; attempt: number; tenantId: string }): Promise<void> {
    const wait = await previousWorkerWait(this.deps.pool, run.jobId);
    if (!wait) {
      this.stalledLogged.delete(run.id);
      return;
    }
    if (this.stalledLogged.get(run.id) === run.attempt) return;
    this.stalledLogged.set(run.id, run.attempt);
    this.deps.log.warn(
      { runId: run.id, tenantId: run.tenantId, kind: run.kind, attempt: run.attempt, lastHeartbeatAt: wait.lastHeartbeatAt, upToSeconds: wait.upToSeconds },
      `the worker running ${run.kind} ${run.id} stopped: waiting for the previous worker to time out, up to ${wait.upToSeconds} s, before another takes the run over`,
    );
  }
}
