/**
 * A run attempt whose job the queue took away (its heartbeat lapsed in a
 * database failover, and another worker claimed the run) while its engine
 * operation still runs. The old attempt must stop its operation, so that its
 * `pulumi up` ends before the new attempt's starts, and must record nothing:
 * the run is the new attempt's.
 */
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { EngineErrorInfo, ProvisionRequest, ProvisionResult, TenantEngine } from "../../../automation/index.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import type { RunJob } from "../../../server/db/job-queue.ts";
import { RunExecutor } from "../../../server/runs/run-executor.ts";
import { probePostgres } from "../../support/postgres.ts";
import { eventually } from "../../support/processes.ts";
import { auth, freshDatabase, startService, tenantRequest, type TestService } from "../../support/service.ts";

const pgAvailable = await probePostgres();

function provisionResult(slug: string, status: ProvisionResult["status"], error: EngineErrorInfo | null): ProvisionResult {
  const now = new Date().toISOString();
  return {
    operation: "provision", engine: "render", slug, status, error, lastPhase: 10, outputs: {},
    changeSummary: { create: 0, update: 0, replace: 0, delete: 0, same: 0 }, phases: [], startedAt: now, finishedAt: now, durationMs: 1,
  };
}

const NO_IP: EngineErrorInfo = { code: "resource_failed", message: "no external IP assigned within 600s", retryable: true, phase: null, urn: null };
const CANCELLED: EngineErrorInfo = { code: "operation_cancelled", message: "the operation was cancelled", retryable: true, phase: null, urn: null };

describe.skipIf(!pgAvailable.available)("a run attempt that loses its job to a takeover", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** A service that runs no jobs itself (the test drives the executor), with one tenant whose provision run is queued. */
  async function queuedRun(slug: string) {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const service: TestService = await startService(db.url, { MATIH_WORKER: "false" });
    cleanup.push(() => service.close());
    const created = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug) })).json();
    const pool = (service.app as unknown as { db: pg.Pool }).db;
    const { rows } = await pool.query(`SELECT job_id AS "jobId" FROM provisioning_runs WHERE id = $1`, [created.run.id]);
    const data = { runId: created.run.id as string, tenantId: created.tenant.id as string };
    return { service, pool, data, jobId: rows[0].jobId as string };
  }

  function executorWith(service: TestService, pool: pg.Pool, engine: Partial<TenantEngine>) {
    const log = { info() {}, warn() {}, error() {} };
    return new RunExecutor({ pool, engine: engine as TenantEngine, bus: (service.app as unknown as { bus: never }).bus, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log });
  }

  async function runState(pool: pg.Pool, data: { runId: string; tenantId: string }) {
    const run = (await pool.query(`SELECT status, attempt FROM provisioning_runs WHERE id = $1`, [data.runId])).rows[0];
    const tenant = (await pool.query(`SELECT status FROM tenants WHERE id = $1`, [data.tenantId])).rows[0];
    const audit = (await pool.query(`SELECT message FROM provisioning_audit_logs WHERE tenant_id = $1 ORDER BY id`, [data.tenantId])).rows.map((r) => r.message as string);
    return { run, tenant, audit };
  }

  it("has its engine operation stopped by the job's signal and records nothing, while the attempt that took over finishes the run", async () => {
    const { service, pool, data, jobId } = await queuedRun("failover");
    const calls: ProvisionRequest[] = [];
    let firstStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (firstStopped = resolve));
    const executor = executorWith(service, pool, {
      async provision(request: ProvisionRequest) {
        calls.push(request);
        if (calls.length === 1) {
          // The first attempt's `pulumi up`: runs until it is cancelled (5 s at most, then fails, so a broken test ends).
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5_000);
            request.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
          });
          firstStopped();
          return provisionResult("failover", request.signal?.aborted ? "cancelled" : "failed", request.signal?.aborted ? CANCELLED : NO_IP);
        }
        await stopped; // the stack's lock: the takeover's update runs once the old one has stopped
        return provisionResult("failover", "succeeded", null);
      },
    });

    const claim1 = new AbortController();
    const first = executor.execute({ id: jobId, data, retryCount: 0, retryLimit: 2, signal: claim1.signal } satisfies RunJob);
    await eventually(() => calls.length === 1, "the first attempt drives the engine", 10_000);

    // The heartbeat lapsed; the queue failed and retried the job, and another worker took it.
    const second = executor.execute({ id: jobId, data, retryCount: 1, retryLimit: 2, signal: new AbortController().signal } satisfies RunJob);
    await eventually(() => calls.length === 2, "the attempt that took over drives the engine", 10_000);
    expect(calls[1]!.ownerDead).toBe(true);
    // The first worker's next heartbeat finds its claim gone: pg-boss aborts that job's signal.
    claim1.abort(new Error(`job ${jobId} is no longer active under this worker's claim`));

    await expect(first).resolves.toBeUndefined();
    await expect(second).resolves.toBeUndefined();
    expect(calls[0]!.signal?.aborted).toBe(true);
    const { run, tenant, audit } = await runState(pool, data);
    expect(run).toEqual({ status: "SUCCEEDED", attempt: 2 });
    expect(tenant.status).toBe("ACTIVE");
    expect(audit.filter((m) => /attempt 1 of \d+ failed/.test(m))).toEqual([]);
  }, 60_000);

  it("records nothing when its engine operation ends after the takeover, before its signal said so", async () => {
    const { service, pool, data, jobId } = await queuedRun("lateend");
    const calls: ProvisionRequest[] = [];
    let endFirst!: () => void;
    const firstMayEnd = new Promise<void>((resolve) => (endFirst = resolve));
    let firstEnded!: () => void;
    const ended = new Promise<void>((resolve) => (firstEnded = resolve));
    const executor = executorWith(service, pool, {
      async provision(request: ProvisionRequest) {
        calls.push(request);
        if (calls.length === 1) {
          await firstMayEnd;
          firstEnded();
          return provisionResult("lateend", "failed", NO_IP);
        }
        await ended;
        return provisionResult("lateend", "succeeded", null);
      },
    });

    // No signal fires for the first attempt: its heartbeat has not yet noticed the claim is gone.
    const first = executor.execute({ id: jobId, data, retryCount: 0, retryLimit: 2, signal: new AbortController().signal });
    await eventually(() => calls.length === 1, "the first attempt drives the engine", 10_000);
    const second = executor.execute({ id: jobId, data, retryCount: 1, retryLimit: 2, signal: new AbortController().signal });
    await eventually(() => calls.length === 2, "the attempt that took over drives the engine", 10_000);
    endFirst();

    // A retryable failure of a run still in its first attempt would be recorded as "attempt 1 failed; retrying" and thrown for the queue.
    await expect(first).resolves.toBeUndefined();
    await expect(second).resolves.toBeUndefined();
    const { run, tenant, audit } = await runState(pool, data);
    expect(run).toEqual({ status: "SUCCEEDED", attempt: 2 });
    expect(tenant.status).toBe("ACTIVE");
    expect(audit.filter((m) => /attempt 1 of \d+ failed/.test(m))).toEqual([]);
  }, 60_000);
});
