/**
 * What the run sweeper does to an unfinished run in each of pg-boss's job
 * states, with a real pg-boss on PostgreSQL: the jobs are the service's own
 * (enqueued with the runs), moved through their states by pg-boss itself
 * (fetch, fail, complete, cancel, delete), never by writing the job table.
 *
 * A job that will still run (created, retry, active) leaves its run alone,
 * above all between attempts (retry), where the next attempt takes the run
 * over; a job that will not run again (completed, failed, cancelled, gone)
 * fails its run and its tenant, once.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TenantEngine } from "../../../automation/index.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { RUN_QUEUE, RunQueue } from "../../../server/db/job-queue.ts";
import { RunExecutor } from "../../../server/runs/run-executor.ts";
import { RunSweeper } from "../../../server/runs/run-sweeper.ts";
import { probePostgres } from "../../support/postgres.ts";
import { auth, freshDatabase, startService, tenantRequest } from "../../support/service.ts";

const pgProbe = await probePostgres();

/** The cases in the order their tenants are created, which is the order pg-boss fetches their jobs. */
const CASES = ["failed", "completed", "active", "retry-killed", "retry-failed", "cancelled", "gone", "created"] as const;
type Case = (typeof CASES)[number];

describe.skipIf(!pgProbe.available)("the run sweeper across pg-boss's job states", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let pool: pg.Pool;
  let queue: RunQueue;
  let sweeper: RunSweeper;
  const warnings: { obj: object; msg: string }[] = [];
  const published: { runId: string; status: string }[] = [];
  const runs = {} as Record<Case, { runId: string; tenantId: string; jobId: string }>;

  const jobState = async (c: Case) => (await queue.boss.getJobById(RUN_QUEUE, runs[c].jobId))?.state ?? null;
  const claim = (c: Case, attempt: number) =>
    pool.query(`UPDATE provisioning_runs SET status = 'RUNNING', attempt = $2, started_at = COALESCE(started_at, now()) WHERE id = $1`, [runs[c].runId, attempt]);
  const fetchJobs = async (count: number) => (await queue.boss.fetch(RUN_QUEUE, { batchSize: count })).map((j) => j.id).sort();
  const idsOf = (...cases: Case[]) => cases.map((c) => runs[c].jobId).sort();

  async function snapshot(c: Case) {
    const run = (await pool.query(`SELECT status, attempt, error, completed_at IS NOT NULL AS finished FROM provisioning_runs WHERE id = $1`, [runs[c].runId])).rows[0];
    const tenant = (await pool.query(`SELECT status, provisioning_error AS error FROM tenants WHERE id = $1`, [runs[c].tenantId])).rows[0];
    const failures = (await pool.query(
      `SELECT message FROM provisioning_audit_logs WHERE tenant_id = $1 AND entity = 'tenant' AND to_status = 'FAILED' ORDER BY id`, [runs[c].tenantId],
    )).rows.map((r) => r.message as string);
    return { run, tenant, failures };
  }

  beforeAll(async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    // An API-only service creates the tenants: each provision run with its job, enqueued with it. Two attempts a run,
    // retried at once (no delay), so that a job in retry can be fetched again.
    const service = await startService(db.url, { MATIH_WORKER: "false", MATIH_MAX_ATTEMPTS: "2", MATIH_RETRY_DELAY_SECONDS: "0" });
    try {
      for (const c of CASES) {
        const created = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(`sweep-${c}`) })).json();
        const { rows } = await service.app.db.query(`SELECT job_id AS "jobId" FROM provisioning_runs WHERE id = $1`, [created.run.id]);
        runs[c] = { runId: created.run.id, tenantId: created.tenant.id, jobId: rows[0].jobId };
      }
    } finally {
      // Closed before any job ends, so that its own sweep (every 5 s) never races the one under test.
      await service.close();
    }

    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    cleanup.push(() => pool.end());
    queue = new RunQueue({ databaseUrl: db.url, maxAttempts: 2, retryDelaySeconds: 0, heartbeatSeconds: 30, expireInSeconds: 4 * 3600 });
    await queue.start();
    cleanup.push(() => queue.stop(1000));
    const log = { info() {}, warn(obj: object, msg: string) { warnings.push({ obj, msg }); }, error() {} };
    const bus = { publish: async (m: { runId: string; status: string }) => void published.push({ runId: m.runId, status: m.status }) };
    const executor = new RunExecutor({ pool, engine: {} as TenantEngine, bus: bus as never, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log: log as never });
    sweeper = new RunSweeper({ pool, queue, executor, log });

    for (const c of CASES) expect(await jobState(c), c).toBe("created");

    // failed: the only retry's worker was killed too. Attempt 1 fails (retry), attempt 2 fails with no attempt left.
    expect(await fetchJobs(1)).toEqual(idsOf("failed"));
    await claim("failed", 1);
    await queue.boss.fail(RUN_QUEUE, runs.failed.jobId, { message: "worker killed" });
    expect(await jobState("failed")).toBe("retry");
    expect(await fetchJobs(1)).toEqual(idsOf("failed"));
    await claim("failed", 2);
    await queue.boss.fail(RUN_QUEUE, runs.failed.jobId, { message: "worker killed" });

    // completed: the job ended as done while its run never finished.
    expect(await fetchJobs(1)).toEqual(idsOf("completed"));
    await claim("completed", 1);
    await queue.boss.complete(RUN_QUEUE, runs.completed.jobId);

    // active: a worker holds it right now.
    expect(await fetchJobs(1)).toEqual(idsOf("active"));
    await claim("active", 1);

    // retry, between attempts: both fetched and their first attempt failed. One as pg-boss leaves a killed worker's
    // run (still RUNNING), one as the executor leaves a failed attempt's (QUEUED again, with the attempt's error).
    expect(await fetchJobs(2)).toEqual(idsOf("retry-killed", "retry-failed"));
    await claim("retry-killed", 1);
    await claim("retry-failed", 1);
    await queue.boss.fail(RUN_QUEUE, runs["retry-killed"].jobId, { message: "heartbeat lapsed" });
    await queue.boss.fail(RUN_QUEUE, runs["retry-failed"].jobId, { message: "no external IP" });
    await pool.query(`UPDATE provisioning_runs SET status = 'QUEUED', error = 'no external IP' WHERE id = $1`, [runs["retry-failed"].runId]);

    // cancelled before it ever ran; gone from the queue altogether.
    await queue.boss.cancel(RUN_QUEUE, runs.cancelled.jobId);
    await queue.boss.deleteJob(RUN_QUEUE, runs.gone.jobId);

    expect(Object.fromEntries(await Promise.all(CASES.map(async (c) => [c, await jobState(c)])))).toEqual({
      failed: "failed", completed: "completed", active: "active", "retry-killed": "retry", "retry-failed": "retry",
      cancelled: "cancelled", gone: null, created: "created",
    });
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("fails exactly the four runs whose job will not run again, and then has nothing left to sweep", async () => {
    expect(await sweeper.sweep()).toBe(4);
    expect(warnings.map((w) => w.obj).sort((a: any, b: any) => a.jobState.localeCompare(b.jobState))).toEqual([
      { runId: runs.cancelled.runId, jobState: "cancelled" },
      { runId: runs.completed.runId, jobState: "completed" },
      { runId: runs.failed.runId, jobState: "failed" },
      { runId: runs.gone.runId, jobState: "gone" },
    ]);
    expect(published.filter((p) => p.status === "FAILED").map((p) => p.runId).sort()).toEqual([runs.cancelled, runs.completed, runs.failed, runs.gone].map((r) => r.runId).sort());
    expect(await sweeper.sweep()).toBe(0);
  });

  // [job state, run before, what the sweeper leaves: run status, attempt, run error, tenant status, tenant FAILED audit messages]
  const table: [Case, string, string, number, string | null, string, string[]][] = [
    ["created", "QUEUED", "QUEUED", 0, null, "PROVISIONING", []],
    ["active", "RUNNING", "RUNNING", 1, null, "PROVISIONING", []],
    ["retry-killed", "RUNNING", "RUNNING", 1, null, "PROVISIONING", []],
    ["retry-failed", "QUEUED", "QUEUED", 1, "no external IP", "PROVISIONING", []],
    ["failed", "RUNNING", "FAILED", 2,
      "the last attempt ended without a result (its worker stopped or failed unexpectedly: worker killed); no attempt is left", "FAILED",
      ["provision failed after 2 attempts: the last attempt ended without a result (its worker stopped or failed unexpectedly: worker killed); no attempt is left"]],
    ["completed", "RUNNING", "FAILED", 1, "the run's job was completed before the run finished; no attempt is left", "FAILED",
      ["provision failed after 1 attempts: the run's job was completed before the run finished; no attempt is left"]],
    // Never started: the run's attempt stays 0; the audit counts the job's one delivery that never came.
    ["cancelled", "QUEUED", "FAILED", 0, "the run's job was cancelled before the run finished; no attempt is left", "FAILED",
      ["provision failed after 1 attempts: the run's job was cancelled before the run finished; no attempt is left"]],
    ["gone", "QUEUED", "FAILED", 0, "the run's job is gone from the queue and no attempt is left", "FAILED",
      ["provision failed after 1 attempts: the run's job is gone from the queue and no attempt is left"]],
  ];

  it.each(table)("job %s, run %s before the sweep: run %s (attempt %i), error %j, tenant %s", async (c, _before, status, attempt, error, tenantStatus, failures) => {
    const s = await snapshot(c);
    expect(s.run).toEqual({ status, attempt, error, finished: status === "FAILED" });
    expect(s.tenant).toEqual({ status: tenantStatus, error: tenantStatus === "FAILED" ? error : null });
    expect(s.failures).toEqual(failures);
  });

  it("leaves a run alone for as long as its job waits between attempts, and fails it once the last attempt ends without a result", async () => {
    // Swept again while in retry: nothing happens.
    expect(await jobState("retry-killed")).toBe("retry");
    expect(await sweeper.sweep()).toBe(0);
    expect((await snapshot("retry-killed")).run.status).toBe("RUNNING");
    // The second (last) attempt is delivered, and its worker is killed too.
    expect(await fetchJobs(1)).toEqual(idsOf("retry-killed"));
    await claim("retry-killed", 2);
    expect(await sweeper.sweep()).toBe(0);
    await queue.boss.fail(RUN_QUEUE, runs["retry-killed"].jobId, { message: "heartbeat lapsed" });
    expect(await jobState("retry-killed")).toBe("failed");
    expect(await sweeper.sweep()).toBe(1);
    const s = await snapshot("retry-killed");
    expect(s.run).toEqual({
      status: "FAILED", attempt: 2, finished: true,
      error: "the last attempt ended without a result (its worker stopped or failed unexpectedly: heartbeat lapsed); no attempt is left",
    });
    expect(s.tenant.status).toBe("FAILED");
    expect(s.failures).toEqual(["provision failed after 2 attempts: the last attempt ended without a result (its worker stopped or failed unexpectedly: heartbeat lapsed); no attempt is left"]);
  });
});
