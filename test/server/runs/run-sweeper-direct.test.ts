/**
 * The run sweeper's two other duties, driven directly on a migrated
 * PostgreSQL with a real pg-boss (no service around it, so that no sweep of
 * the service's own races the one under test):
 *
 * - inspections (previews, drift checks) left RUNNING by a stopped process are
 *   failed once they are past the engine's time limit, with the design's
 *   wording in the run, the audit log and the service log; one that finishes
 *   between the sweep's look and its lock is left alone;
 * - a RUNNING run whose worker's heartbeat lapsed is logged once per attempt,
 *   never failed while its job may still run;
 * - a run whose job will not run again (failed, completed, cancelled, gone) is
 *   failed with the reason in words, and one whose job turns out live again
 *   under the run's lock is left alone.
 *
 * (run-sweeper-job-states.test.ts walks the same job states through a service's
 * own tenants and runs; this file is the mutation group's, quick to run.)
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { TenantEngine } from "../../../automation/index.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { RUN_QUEUE, RunQueue } from "../../../server/db/job-queue.ts";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import { QUEUE_SCHEMA } from "../../../server/db/roles.ts";
import { insertRun, updateRun } from "../../../server/db/runs.ts";
import { insertTenant } from "../../../server/db/tenants.ts";
import { RunExecutor } from "../../../server/runs/run-executor.ts";
import { RunSweeper } from "../../../server/runs/run-sweeper.ts";
import { acmeSpec } from "../../support/acme.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("the run sweeper, driven directly", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let pool: pg.Pool;
  let queue: RunQueue;
  let executor: RunExecutor;
  let warnings: { obj: any; msg: string }[];
  const log = { warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) };

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** A database of its own per test: the sweeper looks at every run in it. */
  beforeEach(async () => {
    warnings = [];
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    await migrateDatabase(db.url);
    const thisPool = new pg.Pool({ connectionString: db.url, max: 4 });
    cleanup.push(() => thisPool.end());
    const thisQueue = new RunQueue({ databaseUrl: db.url, maxAttempts: 2, retryDelaySeconds: 0, heartbeatSeconds: 10, expireInSeconds: 3600 });
    await thisQueue.start();
    cleanup.push(() => thisQueue.stop(1000));
    [pool, queue] = [thisPool, thisQueue];
    const quiet = { info() {}, warn() {}, error() {} };
    const bus = { publish: async () => undefined };
    executor = new RunExecutor({ pool, engine: {} as TenantEngine, bus: bus as never, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log: quiet as never });
  });

  const newTenant = async (slug: string) => (await insertTenant(pool, acmeSpec("free", { id: randomUUID(), slug }))).id;
  /** An inspection run as a process killed during it leaves it: RUNNING, started `minutesAgo`. */
  async function inspection(tenantId: string, kind: "preview" | "drift", minutesAgo: number, status: "RUNNING" | "QUEUED" = "RUNNING") {
    const run = await insertRun(pool, { id: randomUUID(), tenantId, kind, maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status });
    await pool.query(`UPDATE provisioning_runs SET started_at = now() - make_interval(mins => $2), created_at = now() - make_interval(mins => $2) WHERE id = $1`, [run.id, minutesAgo]);
    return run.id;
  }
  const runOf = async (id: string) =>
    (await pool.query(`SELECT status, error, completed_at IS NOT NULL AS finished FROM provisioning_runs WHERE id = $1`, [id])).rows[0];
  const runAudit = async (tenantId: string) =>
    (await pool.query(`SELECT actor, from_status AS "from", to_status AS "to", message, details FROM provisioning_audit_logs WHERE tenant_id = $1 AND entity = 'run' ORDER BY id`, [tenantId])).rows;
  /** Inspections have no job: the sweeper must not ask the queue about them. */
  const noJobs = { jobState: async () => { throw new Error("an inspection has no job to look up"); } } as unknown as RunQueue;

  it("fails inspections past the time limit (default 1 h 5 min) with the design's wording, once, and leaves younger and queued ones", async () => {
    const tenantId = await newTenant("sweep-inspections");
    const preview = await inspection(tenantId, "preview", 120);
    const drift = await inspection(tenantId, "drift", 120);
    const hourOld = await inspection(tenantId, "drift", 60);
    const queued = await inspection(tenantId, "preview", 120, "QUEUED");

    const sweeper = new RunSweeper({ pool, queue: noJobs, executor, log });
    expect(await sweeper.sweep()).toBe(2);
    expect(await runOf(preview)).toEqual({ status: "FAILED", error: "the process running this preview stopped before it finished", finished: true });
    expect(await runOf(drift)).toEqual({ status: "FAILED", error: "the process running this drift check stopped before it finished", finished: true });
    expect(await runOf(hourOld)).toEqual({ status: "RUNNING", error: null, finished: false });
    expect((await runOf(queued)).status).toBe("QUEUED");
    const audit = (await runAudit(tenantId)).filter((a) => a.to === "FAILED");
    expect(audit.sort((a, b) => a.message.localeCompare(b.message))).toEqual([
      { actor: "system", from: "RUNNING", to: "FAILED", message: "drift failed: the process running this drift check stopped before it finished", details: { runId: drift, kind: "drift" } },
      { actor: "system", from: "RUNNING", to: "FAILED", message: "preview failed: the process running this preview stopped before it finished", details: { runId: preview, kind: "preview" } },
    ]);
    expect(warnings.map((w) => w.obj).sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([{ runId: drift, kind: "drift" }, { runId: preview, kind: "preview" }]);
    expect(warnings.map((w) => w.msg)).toEqual(["failed an inspection run whose process stopped", "failed an inspection run whose process stopped"]);
    // Nothing is failed twice.
    expect(await sweeper.sweep()).toBe(0);
    expect((await runAudit(tenantId)).filter((a) => a.to === "FAILED")).toHaveLength(2);

    // A limit of 30 minutes (in ms) takes the hour-old one too.
    const stricter = new RunSweeper({ pool, queue: noJobs, executor, log, inspectionLimitMs: 30 * 60_000 });
    expect(await stricter.sweep()).toBe(1);
    expect(await runOf(hourOld)).toEqual({ status: "FAILED", error: "the process running this drift check stopped before it finished", finished: true });
    // A limit of three hours takes nothing that is left.
    const lenient = new RunSweeper({ pool, queue: noJobs, executor, log, inspectionLimitMs: 3 * 3_600_000 });
    expect(await lenient.sweep()).toBe(0);
  });

  it("leaves alone an inspection that finishes between the sweep's look and its lock", async () => {
    const tenantId = await newTenant("sweep-race");
    const preview = await inspection(tenantId, "preview", 120);
    // The sweep's list of overdue inspections is answered, and only then does the run finish (its process was alive after all).
    const racing = Object.create(pool) as pg.Pool;
    racing.query = (async (...args: unknown[]) => {
      const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      if (String(args[0]).includes("kind IN ('preview', 'drift')")) {
        await pool.query(`UPDATE provisioning_runs SET status = 'SUCCEEDED', completed_at = now() WHERE id = $1`, [preview]);
      }
      return result;
    }) as pg.Pool["query"];
    const sweeper = new RunSweeper({ pool: racing, queue: noJobs, executor, log });
    expect(await sweeper.sweep()).toBe(0);
    expect(await runOf(preview)).toEqual({ status: "SUCCEEDED", error: null, finished: true });
    expect(await runAudit(tenantId)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it("logs a RUNNING run whose worker's heartbeat lapsed once per attempt, and again after the worker came back and lapsed again, without failing it", async () => {
    const tenantId = await newTenant("sweep-stalled");
    const run = await insertRun(pool, { id: randomUUID(), tenantId, kind: "provision", maxAttempts: 2, engine: "render", targetPhase: 10, requestedBy: "admin" });
    const jobId = await queue.enqueue(pool, { runId: run.id, tenantId });
    await updateRun(pool, run.id, { jobId, status: "RUNNING", attempt: 1, started: true });
    expect((await queue.boss.fetch(RUN_QUEUE, { batchSize: 1 })).map((j) => j.id)).toEqual([jobId]);
    const heartbeat = (ago: string) => pool.query(`UPDATE ${QUEUE_SCHEMA}.job SET heartbeat_on = now() - $2::interval WHERE id = $1`, [jobId, ago]);
    const sweeper = new RunSweeper({ pool, queue, executor, log });
    const stalled = (attempt: number) => ({
      obj: { runId: run.id, tenantId, kind: "provision", attempt, lastHeartbeatAt: expect.any(Date), upToSeconds: 1 },
      msg: `the worker running provision ${run.id} stopped: waiting for the previous worker to time out, up to 1 s, before another takes the run over`,
    });

    // A live worker: nothing to say.
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toEqual([]);
    // Its heartbeat lapsed an hour ago (long past the queue's bound: "up to 1 s", never less).
    await heartbeat("1 hour");
    expect(await sweeper.sweep()).toBe(0);
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toEqual([stalled(1)]);
    // The next attempt, stalled the same way, is said again, once.
    await updateRun(pool, run.id, { attempt: 2 });
    expect(await sweeper.sweep()).toBe(0);
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toEqual([stalled(1), stalled(2)]);
    // The worker beats again, then stops again: said once more.
    await heartbeat("0 seconds");
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toHaveLength(2);
    await heartbeat("1 hour");
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toEqual([stalled(1), stalled(2), stalled(2)]);
    expect(await runOf(run.id)).toEqual({ status: "RUNNING", error: null, finished: false });
  });

  /** A tenant with a provision run and its job, as the service enqueues them. */
  async function queuedRun(slug: string) {
    const tenantId = await newTenant(slug);
    const run = await insertRun(pool, { id: randomUUID(), tenantId, kind: "provision", maxAttempts: 2, engine: "render", targetPhase: 10, requestedBy: "admin" });
    const jobId = await queue.enqueue(pool, { runId: run.id, tenantId });
    await updateRun(pool, run.id, { jobId });
    return { tenantId, runId: run.id, jobId };
  }
  /** Delivers the run's job to a worker (which claims the run) and fails that attempt with `output`. */
  async function deliver(r: { runId: string; jobId: string }, attempt: number, output?: object) {
    expect((await queue.boss.fetch(RUN_QUEUE, { batchSize: 1 })).map((j) => j.id)).toEqual([r.jobId]);
    await updateRun(pool, r.runId, { status: "RUNNING", attempt, started: true });
    if (output) await queue.boss.fail(RUN_QUEUE, r.jobId, output);
  }
  const tenantFailures = async (tenantId: string) =>
    (await pool.query(`SELECT message FROM provisioning_audit_logs WHERE tenant_id = $1 AND entity = 'tenant' AND to_status = 'FAILED' ORDER BY id`, [tenantId])).rows.map((r) => r.message);

  it("fails each run whose job will not run again, with the reason in words, and leaves live jobs' runs alone", async () => {
    const failed = await queuedRun("job-failed");
    await deliver(failed, 1, { message: "worker killed" });
    await deliver(failed, 2, { message: "worker killed" });
    const long = await queuedRun("job-failed-long");
    await deliver(long, 1, { message: "x" });
    await deliver(long, 2, { message: `${"m".repeat(500)}TAIL` });
    const silent = await queuedRun("job-failed-silent");
    await deliver(silent, 1, { message: "" });
    await deliver(silent, 2, { message: 42 });
    const completed = await queuedRun("job-completed");
    await deliver(completed, 1);
    await queue.boss.complete(RUN_QUEUE, completed.jobId);
    const cancelled = await queuedRun("job-cancelled");
    await queue.boss.cancel(RUN_QUEUE, cancelled.jobId);
    const gone = await queuedRun("job-gone");
    await queue.boss.deleteJob(RUN_QUEUE, gone.jobId);
    const active = await queuedRun("job-active");
    await deliver(active, 1);
    const retry = await queuedRun("job-retry");
    await deliver(retry, 1, { message: "no external IP" });
    const created = await queuedRun("job-created");
    expect(Object.fromEntries(await Promise.all(Object.entries({ failed, long, silent, completed, cancelled, gone, active, retry, created })
      .map(async ([name, r]) => [name, (await queue.jobState(r.jobId))?.state ?? null])))).toEqual({
      failed: "failed", long: "failed", silent: "failed", completed: "completed", cancelled: "cancelled", gone: null, active: "active", retry: "retry", created: "created",
    });

    const sweeper = new RunSweeper({ pool, queue, executor, log });
    expect(await sweeper.sweep()).toBe(6);
    const ended = "the last attempt ended without a result (its worker stopped or failed unexpectedly";
    expect(await runOf(failed.runId)).toEqual({ status: "FAILED", error: `${ended}: worker killed); no attempt is left`, finished: true });
    expect(await runOf(long.runId)).toEqual({ status: "FAILED", error: `${ended}: ${"m".repeat(500)}); no attempt is left`, finished: true });
    expect(await runOf(silent.runId)).toEqual({ status: "FAILED", error: `${ended}); no attempt is left`, finished: true });
    expect(await runOf(completed.runId)).toEqual({ status: "FAILED", error: "the run's job was completed before the run finished; no attempt is left", finished: true });
    expect(await runOf(cancelled.runId)).toEqual({ status: "FAILED", error: "the run's job was cancelled before the run finished; no attempt is left", finished: true });
    expect(await runOf(gone.runId)).toEqual({ status: "FAILED", error: "the run's job is gone from the queue and no attempt is left", finished: true });
    expect(await runOf(active.runId)).toEqual({ status: "RUNNING", error: null, finished: false });
    expect(await runOf(retry.runId)).toEqual({ status: "RUNNING", error: null, finished: false });
    expect(await runOf(created.runId)).toEqual({ status: "QUEUED", error: null, finished: false });
    // The attempts the tenant's audit counts: the job's deliveries (a job gone or never run counts its one that never came).
    expect(await tenantFailures(failed.tenantId)).toEqual([`provision failed after 2 attempts: ${ended}: worker killed); no attempt is left`]);
    expect(await tenantFailures(completed.tenantId)).toEqual(["provision failed after 1 attempts: the run's job was completed before the run finished; no attempt is left"]);
    expect(await tenantFailures(gone.tenantId)).toEqual(["provision failed after 1 attempts: the run's job is gone from the queue and no attempt is left"]);
    expect(await tenantFailures(active.tenantId)).toEqual([]);
    const byRun = (a: { runId: string }, b: { runId: string }) => a.runId.localeCompare(b.runId);
    expect(warnings.filter((w) => w.msg === "failed a run whose job ended without finishing it").map((w) => w.obj).sort(byRun)).toEqual([
      { runId: failed.runId, jobState: "failed" }, { runId: long.runId, jobState: "failed" }, { runId: silent.runId, jobState: "failed" },
      { runId: completed.runId, jobState: "completed" }, { runId: cancelled.runId, jobState: "cancelled" }, { runId: gone.runId, jobState: "gone" },
    ].sort(byRun));
    expect(await sweeper.sweep()).toBe(0);
  });

  it("leaves a run whose job is live again when its lock is taken (retried meanwhile), as the look before the lock cannot know", async () => {
    const r = await queuedRun("job-relive");
    // The first look (outside the lock) finds no job; under the run's lock the queue has it, created, again.
    const lookedOutside: string[] = [];
    const flickering = {
      jobState: (jobId: string, db?: unknown) => (db ? queue.jobState(jobId, db as never) : (lookedOutside.push(jobId), Promise.resolve(null))),
    } as unknown as RunQueue;
    const sweeper = new RunSweeper({ pool, queue: flickering, executor, log });
    expect(await sweeper.sweep()).toBe(0);
    expect(lookedOutside).toEqual([r.jobId]);
    expect(await runOf(r.runId)).toEqual({ status: "QUEUED", error: null, finished: false });
    expect(warnings).toEqual([]);
    // Gone in both looks: failed.
    await queue.boss.deleteJob(RUN_QUEUE, r.jobId);
    expect(await sweeper.sweep()).toBe(1);
    expect((await runOf(r.runId)).status).toBe("FAILED");
  });

  it("says nothing about a QUEUED run whose job waits for its next attempt after a heartbeat timeout: no worker holds it", async () => {
    const tenantId = await newTenant("sweep-between");
    const run = await insertRun(pool, { id: randomUUID(), tenantId, kind: "provision", maxAttempts: 2, engine: "render", targetPhase: 10, requestedBy: "admin" });
    const jobId = await queue.enqueue(pool, { runId: run.id, tenantId });
    await updateRun(pool, run.id, { jobId });
    expect((await queue.boss.fetch(RUN_QUEUE, { batchSize: 1 })).map((j) => j.id)).toEqual([jobId]);
    // As pg-boss's supervisor fails a job whose heartbeat lapsed (the same output), with the run put back in the queue.
    await queue.boss.fail(RUN_QUEUE, jobId, { value: { message: "job heartbeat timeout" } });
    expect((await queue.jobState(jobId))?.state).toBe("retry");
    const sweeper = new RunSweeper({ pool, queue, executor, log });
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings).toEqual([]);
    // The same job state with the run RUNNING (its worker was killed) is said.
    await updateRun(pool, run.id, { status: "RUNNING", attempt: 1 });
    expect(await sweeper.sweep()).toBe(0);
    expect(warnings.map((w) => w.obj.runId)).toEqual([run.id]);
  });
});
