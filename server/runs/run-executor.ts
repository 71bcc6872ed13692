/**
 * Executes one attempt of a run: claims the run, drives the engine, records
 * phases as they move, and on the outcome updates the tenant, the run, the
 * audit log and the outbox in one transaction. A failed attempt with attempts
 * left throws, and the queue retries it with backoff; because `up` converges,
 * the retry continues where the failure was.
 */
import type pg from "pg";
import { isInfrastructureError, type EngineErrorInfo, type OperationResult, type TenantEngine } from "../../automation/index.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { appendAudit } from "../db/audit.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import { withTransaction } from "../db/pool.ts";
import { findRun, phasesOf, updatePhase, updateRun, type RunRow } from "../db/runs.ts";
import { findTenant, tenantSpecOf, updateTenantStatus, type TenantRow, type TenantStatus } from "../db/tenants.ts";
import { assertTransition } from "../domain/tenant-status.ts";
import type { ProgressBus } from "../live/progress-bus.ts";
import { PhaseRecorder } from "./phase-recorder.ts";
import type { RunJobData } from "../db/job-queue.ts";

export interface RunExecutorDeps {
  pool: pg.Pool;
  engine: TenantEngine;
  bus: ProgressBus;
  settings: PlatformSettings;
  rollbackPolicy: "keep" | "destroy";
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  metrics?: {
    runFinished(kind: string, outcome: string): void;
    phaseFinished(phase: string, outcome: string, seconds: number): void;
  };
}

/** Thrown to make the queue retry the job; its message is the attempt's failure. */
export class AttemptFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttemptFailedError";
  }
}

const MAX_ERROR_LENGTH = 2000;
const clip = (s: string) => (s.length > MAX_ERROR_LENGTH ? `${s.slice(0, MAX_ERROR_LENGTH)}…` : s);

/** The tenant-facing account of a failed attempt: what failed in the tenant's terms, never a driver's text. */
function describeError(error: EngineErrorInfo | null, finalAttempt = false): string {
  if (!error) return "the engine reported a failure without a reason";
  const where = error.phase ? `phase ${error.phase.number} ${error.phase.name}: ` : "";
  if (error.code === "infrastructure_unavailable") {
    return `${where}${finalAttempt ? "the provisioning service's database was unavailable on the last attempt; retry the tenant once the service is healthy" : error.message}`;
  }
  return clip(`${where}${error.message}`);
}

/** Thrown instead of a database error met while recording a run: the queue retries the attempt. */
const INFRASTRUCTURE_MESSAGE = "the provisioning service's database was briefly unavailable; the run is retried automatically";

export class RunExecutor {
  private readonly deps: RunExecutorDeps;
  /** Aborted when the process shuts down, so engines stop at a safe point. */
  private readonly shutdown = new AbortController();
  /**
   * Called with the tenant's id just before a run drives the engine, so that
   * work that must never hold a run up (a drift check) gives way.
   */
  readonly beforeEngine = new Set<(tenantId: string) => void>();

  constructor(deps: RunExecutorDeps) {
    this.deps = deps;
  }

  abortAll(): void {
    this.shutdown.abort(new Error("the service is shutting down"));
  }

  /**
   * One attempt. A database error while recording it (connection lost,
   * serialization failure, deadlock) is the service's trouble, not the
   * tenant's: the details go to the log with the run id, and the queue
   * retries the attempt.
   */
  async execute(job: { id: string; data: RunJobData; retryCount: number; retryLimit: number }): Promise<void> {
    try {
      await this.attempt(job);
    } catch (error) {
      if (error instanceof AttemptFailedError || !isInfrastructureError(error)) throw error;
      this.deps.log.warn({ err: error, runId: job.data.runId, attempt: job.retryCount + 1 }, "database trouble during a run; the queue retries it");
      throw new AttemptFailedError(INFRASTRUCTURE_MESSAGE);
    }
  }

  private async attempt(job: { id: string; data: RunJobData; retryCount: number; retryLimit: number }): Promise<void> {
    const { pool, bus, log } = this.deps;
    const attempt = job.retryCount + 1;
    const finalAttempt = job.retryCount >= job.retryLimit;

    // Claim the run. A run still RUNNING when its job is delivered again was
    // left by a worker that died: its engine lock is stale.
    const claim = await withTransaction(pool, async (db) => {
      const run = await findRun(db, job.data.runId, { forUpdate: true });
      if (!run) return null;
      if (run.status === "SUCCEEDED" || run.status === "FAILED" || run.status === "CANCELLED") return null;
      const ownerDead = run.status === "RUNNING";
      const tenant = (await findTenant(db, run.tenantId, { forUpdate: true }))!;
      const claimed = await updateRun(db, run.id, { status: "RUNNING", attempt, jobId: job.id, started: true });
      await appendAudit(db, {
        tenantId: run.tenantId, runId: run.id, entity: "run", actor: "tenant-service", from: run.status, to: "RUNNING",
        message: `${run.kind} attempt ${attempt} of ${run.maxAttempts} started${ownerDead ? " (taking over from a worker that stopped)" : ""}`,
        details: { attempt, jobId: job.id, ownerDead },
      });
      return { run: claimed, tenant, ownerDead };
    });
    if (!claim) {
      log.warn({ runId: job.data.runId }, "run is finished or gone; nothing to do");
      return;
    }
    const { run, tenant, ownerDead } = claim;
    await bus.publish({ type: "run", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "RUNNING", attempt });

    const recorder = await PhaseRecorder.start({
      pool, bus, tenantId: tenant.id, runId: run.id, actor: "tenant-service", attempt,
      onError: (error) => log.error({ err: error, runId: run.id }, "could not record progress"),
      onPhaseFinished: (phase, ms) => this.deps.metrics?.phaseFinished(phase.name, phase.status, (ms ?? 0) / 1000),
    });
    const request = {
      spec: tenantSpecOf(tenant),
      settings: this.deps.settings,
      signal: this.shutdown.signal,
      onEvent: recorder.onEvent,
      ownerDead,
    };
    for (const giveWay of this.beforeEngine) giveWay(tenant.id);
    const result: OperationResult = run.kind === "teardown"
      ? await this.deps.engine.teardown(request)
      : await this.deps.engine.provision({ ...request, lastPhase: run.targetPhase });
    await recorder.flush();

    if (result.status === "succeeded") {
      await this.succeed(run, tenant, result);
      return;
    }
    const retryable = result.error?.retryable !== false;
    const message = describeError(result.error, finalAttempt || !retryable);
    if (result.error?.code === "infrastructure_unavailable") log.warn({ tenant: tenant.slug, runId: run.id, attempt }, "the engine met database trouble; see the engine's log line for the driver's error");
    if (result.status === "cancelled" && this.shutdown.signal.aborted) {
      // Handed back: another process (or this one after a restart) takes the job again.
      await this.endAttempt(run, tenant, attempt, `interrupted by shutdown: ${message}`);
      throw new AttemptFailedError(`interrupted by shutdown: ${message}`);
    }
    if (!finalAttempt && retryable) {
      await this.endAttempt(run, tenant, attempt, message);
      throw new AttemptFailedError(message);
    }
    await this.fail(run, tenant, attempt, message, result);
  }

  /** An attempt failed and another will follow: the run waits for its retry. */
  private async endAttempt(run: RunRow, tenant: TenantRow, attempt: number, message: string): Promise<void> {
    await withTransaction(this.deps.pool, async (db) => {
      await updateRun(db, run.id, { status: "QUEUED", error: message });
      await appendAudit(db, {
        tenantId: tenant.id, runId: run.id, entity: "run", actor: "tenant-service", from: "RUNNING", to: "QUEUED",
        message: `${run.kind} attempt ${attempt} of ${run.maxAttempts} failed; retrying: ${message}`, details: { attempt },
      });
    });
    this.deps.log.warn({ tenant: tenant.slug, runId: run.id, attempt }, `attempt failed, will retry: ${message}`);
    await this.deps.bus.publish({ type: "run", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "RETRYING", attempt, error: message });
  }

  private async setTenantStatus(db: pg.PoolClient, run: RunRow, tenant: TenantRow, to: TenantStatus, change: Omit<Parameters<typeof updateTenantStatus>[2], "status">, message: string, details: Record<string, unknown> = {}): Promise<TenantRow> {
    const current = (await findTenant(db, tenant.id, { forUpdate: true }))!;
    assertTransition(current.status, to);
    const updated = await updateTenantStatus(db, tenant.id, { ...change, status: to });
    await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "tenant", actor: "tenant-service", from: current.status, to, message, details });
    return updated;
  }

  private async succeed(run: RunRow, tenant: TenantRow, result: OperationResult): Promise<void> {
    const { pool, bus, log } = this.deps;
    const outputs = result.operation === "provision" ? result.outputs : {};
    let runMs = result.durationMs;
    const updated = await withTransaction(pool, async (db) => {
      const finished = await updateRun(db, run.id, { status: "SUCCEEDED", error: null, result: { changeSummary: result.changeSummary, engineDurationMs: result.durationMs }, finished: true });
      runMs = finished.durationMs ?? result.durationMs;
      const totalMs = finished.durationMs ?? result.durationMs;
      if (run.kind === "teardown") {
        const t = await this.setTenantStatus(db, run, tenant, "DELETED", { deleted: true }, `tenant torn down in ${(totalMs / 1000).toFixed(1)}s`, { durationMs: totalMs });
        await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.deprovisioned", payload: { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, durationMs: totalMs } });
        return t;
      }
      if (run.kind === "rollback") {
        return this.setTenantStatus(db, run, tenant, "FAILED", { provisioningError: `rolled back to the end of phase ${run.targetPhase}; retry to provision the rest` },
          `rolled back to the end of phase ${run.targetPhase}`, { targetPhase: run.targetPhase });
      }
      // The seed's finalization: ACTIVE, completion time, earlier error cleared, notification and event.
      const provisionedMs = Date.now() - new Date(tenant.provisioningStartedAt ?? tenant.createdAt).getTime();
      const t = await this.setTenantStatus(db, run, tenant, "ACTIVE", { provisioningCompletedAt: "now", provisioningError: null, outputs },
        `provisioned in ${(provisionedMs / 1000).toFixed(1)}s`, { durationMs: provisionedMs, changeSummary: result.changeSummary });
      const endpoints = (outputs.urls ?? {}) as Record<string, string>;
      const data = { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, durationMs: provisionedMs, endpoints };
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.provisioned", payload: data });
      await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "provisioning-completed", payload: { to: tenant.adminEmail, displayName: tenant.displayName, ...data } });
      return t;
    });
    // Each run reports its own duration; a provision also how long the tenant took from request to ACTIVE.
    const sinceRequestMs = run.kind !== "teardown" && updated.provisioningCompletedAt && updated.provisioningStartedAt
      ? new Date(updated.provisioningCompletedAt).getTime() - new Date(updated.provisioningStartedAt).getTime()
      : undefined;
    log.info({ tenant: tenant.slug, runId: run.id, kind: run.kind, status: updated.status, runDurationMs: Math.round(runMs), ...(sinceRequestMs !== undefined ? { provisioningDurationMs: sinceRequestMs } : {}) }, `${run.kind} of ${tenant.slug} succeeded; tenant is ${updated.status}`);
    this.deps.metrics?.runFinished(run.kind, "succeeded");
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "SUCCEEDED", tenantStatus: updated.status, error: null });
  }

  /** The last attempt failed: the tenant fails, and the rollback policy applies. */
  private async fail(run: RunRow, tenant: TenantRow, attempt: number, message: string, result: OperationResult): Promise<void> {
    const { pool, bus, log } = this.deps;
    // The policy runs before the run is marked finished, so that a FAILED run means its cleanup is done too.
    if (run.kind !== "teardown" && this.deps.rollbackPolicy === "destroy") await this.destroyAfterFailure(run, tenant);
    const updated = await withTransaction(pool, (db) => this.recordFinalFailure(db, run, tenant, attempt, message, { changeSummary: result.changeSummary, error: result.error }));
    log.error({ tenant: tenant.slug, runId: run.id, attempts: attempt }, `${run.kind} of ${tenant.slug} failed: ${message}`);
    this.deps.metrics?.runFinished(run.kind, "failed");
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "FAILED", tenantStatus: updated.status, error: message });
  }

  /**
   * The run's last attempt is over without a result: a worker killed on its
   * final attempt (the queue failed the job when its heartbeat lapsed), an
   * exception on the final attempt, or a job the queue expired or lost. The run
   * and tenant fail in one transaction with the audit row, event and mail, so
   * that retry, rollback and delete work again. Returns false (and changes
   * nothing) when the run has already finished, or when `stillOwned` says its
   * job is live again.
   */
  async failUnfinished(runId: string, attempt: number, message: string, stillOwned: (db: pg.PoolClient, run: RunRow) => Promise<boolean> = async () => false): Promise<boolean> {
    const { pool, bus, log } = this.deps;
    const outcome = await withTransaction(pool, async (db) => {
      const run = await findRun(db, runId, { forUpdate: true });
      if (!run || (run.status !== "QUEUED" && run.status !== "RUNNING")) return null;
      if (await stillOwned(db, run)) return null;
      const tenant = (await findTenant(db, run.tenantId, { forUpdate: true }))!;
      const updated = await this.recordFinalFailure(db, run, tenant, Math.max(attempt, run.attempt), message, { error: { code: "run_abandoned", message, retryable: true } });
      return { run, tenant: updated };
    });
    if (!outcome) return false;
    const { run, tenant } = outcome;
    log.error({ tenant: tenant.slug, runId: run.id }, `${run.kind} of ${tenant.slug} failed: ${message}`);
    this.deps.metrics?.runFinished(run.kind, "failed");
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "FAILED", tenantStatus: tenant.status, error: message });
    return true;
  }

  /** In the caller's transaction: the run FAILED, the tenant FAILED (a teardown stays DEPROVISIONING), audit, event and mail. */
  private async recordFinalFailure(db: pg.PoolClient, run: RunRow, tenant: TenantRow, attempt: number, message: string, result: Record<string, unknown>): Promise<TenantRow> {
    await updateRun(db, run.id, { status: "FAILED", error: message, result, finished: true });
    if (run.kind === "teardown") {
      // Stays DEPROVISIONING; a new DELETE asks again.
      const t = await updateTenantStatus(db, tenant.id, { status: "DEPROVISIONING", provisioningError: message });
      await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "run", actor: "tenant-service", from: run.status, to: "FAILED", message: `teardown failed after ${attempt} attempts: ${message}` });
      return t;
    }
    const t = await this.setTenantStatus(db, run, tenant, "FAILED", { provisioningError: message }, `${run.kind} failed after ${attempt} attempts: ${message}`, { attempts: attempt });
    const data = { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, error: message, attempts: attempt };
    await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.provisioning_failed", payload: data });
    await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "provisioning-failed", payload: { to: tenant.adminEmail, displayName: tenant.displayName, ...data } });
    return t;
  }

  /** Rollback policy `destroy`: remove whatever the failed run left, and mark those phases rolled back. */
  private async destroyAfterFailure(run: RunRow, tenant: TenantRow): Promise<void> {
    const recorder = await PhaseRecorder.start({ pool: this.deps.pool, bus: this.deps.bus, tenantId: tenant.id, runId: run.id, actor: "rollback-policy", attempt: run.attempt });
    const result = await this.deps.engine.teardown({ spec: tenantSpecOf(tenant), settings: this.deps.settings, signal: this.shutdown.signal, onEvent: recorder.onEvent, ownerDead: false });
    await recorder.flush();
    await withTransaction(this.deps.pool, async (db) => {
      // Phases that never started have nothing to remove; the rest are gone now.
      for (const phase of await phasesOf(db, run.id)) {
        if (phase.status === "FAILED" && result.status === "succeeded") await updatePhase(db, run.id, phase.number, { status: "ROLLED_BACK" });
      }
      await appendAudit(db, {
        tenantId: tenant.id, runId: run.id, entity: "run", actor: "rollback-policy", from: "RUNNING", to: "RUNNING",
        message: result.status === "succeeded" ? "rollback policy destroy: the tenant's resources were removed" : `rollback policy destroy could not remove everything: ${describeError(result.error)}`,
      });
    });
  }
}

