/**
 * Executes one attempt of a run: claims the run, drives the engine, records
 * phases as they move, and on the outcome updates the tenant, the run, the
 * audit log and the outbox in one transaction. A failed attempt with attempts
 * left throws, and the queue retries it with backoff; because `up` converges,
 * the retry continues where the failure was.
 */
import type pg from "pg";
import { isInfrastructureError, type EngineErrorInfo, type OperationResult, type PreviewResult, type SavedPlan, type TenantEngine } from "../../automation/index.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import type { TenantSpec } from "../../model/spec.ts";
import { appendAudit } from "../db/audit.ts";
import { findChangeById, findChangePlanContent, updateChange, type ChangeRow } from "../db/changes.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import { reviewOf } from "../domain/change-service.ts";
import { withTransaction } from "../db/pool.ts";
import { findRun, highestTargetPhase, phasesOf, updatePhase, updateRun, type RunRow } from "../db/runs.ts";
import { deleteStackSettings, findStackSettings, recordStackSettings } from "../db/stack-settings.ts";
import { markTenantSettingsApplied } from "../db/platform-settings.ts";
import { currentPlatformSettings } from "../domain/platform-settings.ts";
import { findTenant, tenantSpecOf, updateTenantStatus, type TenantRow, type TenantStatus } from "../db/tenants.ts";
import { assertTransition } from "../domain/tenant-status.ts";
import type { ProgressBus } from "../live/progress-bus.ts";
import { PhaseRecorder } from "./phase-recorder.ts";
import type { RunJob } from "../db/job-queue.ts";
import { backupOfRun, findBackup, markRestored, pendingRestoreOf } from "../db/backups.ts";
import type { BackupReason } from "../db/backups.ts";
import type { BackupService } from "../domain/backup-service.ts";
import { PHASES } from "../../model/phases.ts";
import { tierProfile } from "../../model/tiers.ts";

export interface RunExecutorDeps {
  pool: pg.Pool;
  engine: TenantEngine;
  bus: ProgressBus;
  settings: PlatformSettings;
  rollbackPolicy: "keep" | "destroy";
  /** MATIH_OPS_EMAIL: operators get an applied change's resource detail; null or absent: no such mail. */
  opsEmail?: string | null;
  /** Backs the tenant's database up before a destructive run; none: no backups (tests of other things). */
  backups?: BackupService;
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

/**
 * This attempt no longer owns its run: the queue took the job away (its
 * heartbeat lapsed, say in a database failover) and another attempt, here or
 * in another process, claimed the run. Thrown to record nothing more; the
 * queue's own settling of this attempt is fenced to it and does nothing.
 */
class ClaimLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClaimLostError";
  }
}

const MAX_ERROR_LENGTH = 2000;
/** The database phase: a rollback below it drops the tenant's schema. */
const DATABASE_PHASE = PHASES.find((p) => p.name === "SETUP_DATABASE")!.number;
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
  async execute(job: RunJob): Promise<void> {
    try {
      await this.attempt(job);
    } catch (error) {
      if (error instanceof ClaimLostError) {
        this.deps.log.warn({ runId: job.data.runId, attempt: job.retryCount + 1 }, `${error.message}; this attempt records nothing more`);
        return;
      }
      if (error instanceof AttemptFailedError || !isInfrastructureError(error)) throw error;
      this.deps.log.warn({ err: error, runId: job.data.runId, attempt: job.retryCount + 1 }, "database trouble during a run; the queue retries it");
      throw new AttemptFailedError(INFRASTRUCTURE_MESSAGE);
    }
  }

  private async attempt(job: RunJob): Promise<void> {
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
      pool, bus, tenantId: tenant.id, runId: run.id, actor: "tenant-service", attempt, runKind: run.kind,
      onError: (error) => log.error({ err: error, runId: run.id }, "could not record progress"),
      onPhaseFinished: (phase, ms) => this.deps.metrics?.phaseFinished(phase.name, phase.status, (ms ?? 0) / 1000),
    });
    const change = run.changeId ? await findChangeById(pool, run.changeId) : undefined;
    if (run.changeId && !change) throw new Error(`run ${run.id} names change ${run.changeId}, which does not exist`);
    // The stack's secrets settings as the last operation on it reported them, from whichever process ran it.
    const stackSettings = await findStackSettings(pool, tenant.slug);
    // The platform settings' current version, read now rather than kept from start: a version recorded
    // by any process since applies from the next run on, and this run records the one it used.
    const settingsVersion = await currentPlatformSettings(pool, this.deps.settings);
    const request = {
      // A change's runs work on the spec the change brings the tenant to.
      spec: change ? { ...tenantSpecOf(tenant), tier: change.targetTier } : tenantSpecOf(tenant),
      settings: settingsVersion.settings,
      // The engine stops at a safe point on shutdown, and also when the queue
      // takes the job away from this attempt (its heartbeat lapsed, say in a
      // database failover): another attempt, maybe in another process, then
      // owns the run, and this one's update must stop before that one's starts.
      signal: job.signal ? AbortSignal.any([this.shutdown.signal, job.signal]) : this.shutdown.signal,
      onEvent: recorder.onEvent,
      ownerDead,
      stackSettings,
    };
    for (const giveWay of this.beforeEngine) giveWay(tenant.id);
    // Before anything destructive, the tenant's data is saved; a backup that fails fails the attempt, and nothing is deleted.
    const backupFailure = await this.backUpFirst(run, tenant, change);
    if (backupFailure !== null) {
      await recorder.flush();
      if (!finalAttempt) {
        await this.endAttempt(run, tenant, attempt, backupFailure);
        throw new AttemptFailedError(backupFailure);
      }
      await this.failWithoutEngine(run, tenant, attempt, backupFailure);
      return;
    }
    if (run.kind === "preview" && change) {
      const preview = await this.deps.engine.preview({ ...request, lastPhase: change.targetPhase, savePlan: true });
      await recorder.flush();
      await this.rememberStackSettings(tenant, preview);
      this.checkClaim(job);
      await this.finishPreview(run, tenant, change, preview);
      return;
    }
    if (run.kind === "update" && change) await this.startApplying(run, tenant, change);
    const result: OperationResult = run.kind === "teardown"
      ? await this.deps.engine.teardown({ ...request, lastPhase: await highestTargetPhase(this.deps.pool, tenant.id) })
      : run.kind === "update" && change
        ? await this.deps.engine.provision({
          ...request,
          lastPhase: change.targetPhase,
          ...(change.plan ? { plan: await this.reviewedPlan(change), planMode: (await this.resumesChange(run, attempt)) ? "resume" as const : "exact" as const } : {}),
        })
        : await this.deps.engine.provision({ ...request, lastPhase: run.targetPhase });
    await recorder.flush();
    await this.rememberStackSettings(tenant, result);
    this.checkClaim(job);

    if (run.kind === "update" && change && result.status === "failed" && result.error?.code === "plan_mismatch") {
      await this.planWentStale(run, tenant, change, result);
      return;
    }
    if (result.status === "succeeded") {
      // A tenant requested with restoreFrom gets that backup's data once its schema exists, before it is ACTIVE.
      const restoreFailure = await this.restoreRequested(run, tenant);
      if (restoreFailure !== null) {
        if (!finalAttempt) {
          await this.endAttempt(run, tenant, attempt, restoreFailure);
          throw new AttemptFailedError(restoreFailure);
        }
        await this.failWithoutEngine(run, tenant, attempt, restoreFailure);
        return;
      }
      await this.succeed(run, tenant, result, settingsVersion.version ?? null);
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
    await this.fail(run, tenant, attempt, message, result, request.signal);
  }

  /**
   * Why this run needs a backup first, or null: a teardown; a rollback that
   * removes the database phase; an update that applies a change its review
   * found destructive (approved with allowDestructive).
   */
  private backupReason(run: RunRow, change: ChangeRow | undefined): BackupReason | null {
    if (run.kind === "teardown") return "teardown";
    if (run.kind === "rollback" && run.targetPhase < DATABASE_PHASE) return "rollback";
    if (run.kind === "update" && change?.destructive) return "destructive-change";
    return null;
  }

  /**
   * The backup step. Returns null to go on (backed up, nothing to back up, or
   * skipped at the request's asking, each in the audit log), or why the run
   * must not: the backup failed, and deleting the data now would lose it.
   * An attempt after one that already backed up does not take another.
   */
  private async backUpFirst(run: RunRow, tenant: TenantRow, change: ChangeRow | undefined): Promise<string | null> {
    const reason = this.backupReason(run, change);
    const backups = this.deps.backups;
    if (reason === null || !backups) return null;
    const audit = (message: string, details: Record<string, unknown>) => withTransaction(this.deps.pool, (db) => appendAudit(db, {
      tenantId: tenant.id, runId: run.id, entity: "run", actor: "tenant-service", from: "RUNNING", to: "RUNNING", message, details,
    }));
    if (run.skipBackup) {
      await audit(`no backup before the ${run.kind}: ${run.requestedBy} asked to skip it (skipBackup)`, { backup: "skipped", requestedBy: run.requestedBy });
      return null;
    }
    if (await backupOfRun(this.deps.pool, run.id)) return null;
    try {
      const outcome = await backups.take(tenant, { reason, principal: run.requestedBy, runId: run.id });
      if ("none" in outcome) {
        await audit(`no backup before the ${run.kind}: ${outcome.none}`, { backup: "none", why: outcome.none });
        return null;
      }
      const b = outcome.backup;
      await audit(`backup ${b.id} of ${b.schemaName} taken before the ${run.kind}: ${b.sizeBytes} bytes, sha256 ${b.sha256}, kept until ${new Date(b.expiresAt).toISOString()}`,
        { backup: "taken", backupId: b.id, sizeBytes: b.sizeBytes, sha256: b.sha256, location: b.location, expiresAt: new Date(b.expiresAt).toISOString() });
      return null;
    } catch (error) {
      const message = `the backup before the ${run.kind} failed, so nothing was deleted: ${(error as Error).message}; ask again once the tenant database is reachable, or with {"skipBackup": true} to go on without a backup`;
      this.deps.log.warn({ tenant: tenant.slug, runId: run.id }, message);
      return clip(message);
    }
  }

  /**
   * Restores the backup a new tenant was requested from (restoreFrom), once
   * its provisioning created the schema; null when done or not asked for,
   * else why the attempt failed.
   */
  private async restoreRequested(run: RunRow, tenant: TenantRow): Promise<string | null> {
    const backups = this.deps.backups;
    if (!backups || (run.kind !== "provision" && run.kind !== "retry") || run.targetPhase < DATABASE_PHASE) return null;
    const pending = await pendingRestoreOf(this.deps.pool, tenant.id);
    if (!pending) return null;
    const backup = (await findBackup(this.deps.pool, pending.backupId))!;
    try {
      await backups.restore(tenant, backup);
    } catch (error) {
      return clip(`restoring backup ${backup.id} (restoreFrom) failed: ${(error as Error).message}`);
    }
    await withTransaction(this.deps.pool, async (db) => {
      await markRestored(db, tenant.id);
      await appendAudit(db, {
        tenantId: tenant.id, runId: run.id, entity: "run", actor: "tenant-service", from: "RUNNING", to: "RUNNING",
        message: `backup ${backup.id} (${backup.schemaName}, taken ${new Date(backup.createdAt).toISOString()}) restored into the new tenant, as ${pending.requestedBy} asked (restoreFrom)`,
        details: { backupId: backup.id, restoredFrom: backup.tenantId },
      });
    });
    return null;
  }

  /** The final attempt failed before or after the engine for the service's own step (backup, restore): the run fails as after an engine failure. */
  private async failWithoutEngine(run: RunRow, tenant: TenantRow, attempt: number, message: string): Promise<void> {
    const updated = await withTransaction(this.deps.pool, async (db) => {
      await this.assertOwnsRun(db, run);
      return this.recordFinalFailure(db, run, tenant, attempt, message, { error: { code: "backup_failed", message, retryable: true } });
    });
    this.deps.log.error({ tenant: tenant.slug, runId: run.id, attempts: attempt }, `${run.kind} of ${tenant.slug} failed: ${message}`);
    this.deps.metrics?.runFinished(run.kind, "failed");
    await this.deps.bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "FAILED", tenantStatus: updated.status, error: message });
  }

  /**
   * The change's reviewed plan with its file's contents, which the preview's
   * process kept with the change: the process applying it may be another one,
   * whose data directory never had the file.
   */
  private async reviewedPlan(change: ChangeRow): Promise<SavedPlan> {
    const content = await findChangePlanContent(this.deps.pool, change.id);
    return { ...(change.plan as SavedPlan), ...(content !== null ? { content } : {}) };
  }

  /**
   * Keeps the stack's secrets settings as the operation reported them, for
   * the next operation on the stack in any process (server/db/stack-settings.ts);
   * a teardown that succeeded (the stack is gone) removes them.
   */
  private async rememberStackSettings(tenant: TenantRow, result: OperationResult): Promise<void> {
    if (result.operation === "teardown" && result.status === "succeeded") {
      await deleteStackSettings(this.deps.pool, tenant.slug);
      return;
    }
    if (result.stackSettings && (await recordStackSettings(this.deps.pool, tenant.slug, result.stackSettings))) {
      this.deps.log.info({ tenant: tenant.slug, settings: Object.keys(result.stackSettings) }, `recorded the secrets settings of ${tenant.slug}'s stack`);
    }
  }

  /**
   * After the engine: if the queue took the job away from this attempt while
   * the engine ran (its signal aborted, not by a shutdown), the attempt
   * records nothing. The run belongs to the attempt that took it over, and an
   * outcome written now would overwrite that attempt's, or fail its tenant
   * under it.
   */
  private checkClaim(job: RunJob): void {
    if (!job.signal?.aborted || this.shutdown.signal.aborted) return;
    const reason = job.signal.reason instanceof Error ? job.signal.reason.message : String(job.signal.reason);
    throw new ClaimLostError(`the queue took the run's job from this attempt while its engine operation ran (${reason}); the operation was stopped`);
  }

  /**
   * Fences every write of an attempt's outcome: the run must still be
   * RUNNING under this attempt's number (`claimed.attempt`), read under the
   * row's lock in the caller's transaction. An attempt whose job was taken
   * over before its signal said so (the queue's heartbeat notices a lost
   * claim only every half heartbeat) still writes nothing.
   */
  private async assertOwnsRun(db: pg.PoolClient | pg.Pool, claimed: RunRow): Promise<void> {
    const current = await findRun(db, claimed.id, { forUpdate: true });
    if (current?.status === "RUNNING" && current.attempt === claimed.attempt) return;
    throw new ClaimLostError(`run ${claimed.id} is no longer this attempt's (attempt ${claimed.attempt}): it is ${current ? `${current.status} under attempt ${current.attempt}` : "gone"}`);
  }

  /** An attempt failed and another will follow: the run waits for its retry. */
  private async endAttempt(run: RunRow, tenant: TenantRow, attempt: number, message: string): Promise<void> {
    await withTransaction(this.deps.pool, async (db) => {
      await this.assertOwnsRun(db, run);
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

  private async succeed(run: RunRow, tenant: TenantRow, result: OperationResult, settingsVersion: number | null = null): Promise<void> {
    const { pool, bus, log } = this.deps;
    const outputs = result.operation === "provision" ? result.outputs : {};
    let runMs = result.durationMs;
    const updated = await withTransaction(pool, async (db) => {
      await this.assertOwnsRun(db, run);
      // A provision, retry or update that succeeded leaves the tenant as these settings render it;
      // a rollback (part of the tenant) and a teardown (none of it) do not.
      if (settingsVersion !== null && (run.kind === "provision" || run.kind === "retry" || run.kind === "update")) await markTenantSettingsApplied(db, tenant.id, settingsVersion);
      const finished = await updateRun(db, run.id, { status: "SUCCEEDED", error: null, result: { changeSummary: result.changeSummary, engineDurationMs: result.durationMs }, finished: true });
      runMs = finished.durationMs ?? result.durationMs;
      const totalMs = finished.durationMs ?? result.durationMs;
      if (run.kind === "teardown") {
        const t = await this.setTenantStatus(db, run, tenant, "DELETED", { deleted: true }, `tenant torn down in ${(totalMs / 1000).toFixed(1)}s`, { durationMs: totalMs });
        await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.deprovisioned", payload: { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, durationMs: totalMs } });
        return t;
      }
      if (run.kind === "update" && run.changeId) return this.updated(db, run, tenant, result, outputs);
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
  private async fail(run: RunRow, tenant: TenantRow, attempt: number, message: string, result: OperationResult, signal: AbortSignal): Promise<void> {
    const { pool, bus, log } = this.deps;
    // The policy runs before the run is marked finished, so that a FAILED run means its cleanup is done too.
    // Never for an update: a live tenant whose change failed keeps its resources and data.
    if (run.kind !== "teardown" && run.kind !== "update" && this.deps.rollbackPolicy === "destroy") {
      await this.assertOwnsRun(pool, run); // never destroy a tenant's resources under another attempt
      await this.destroyAfterFailure(run, tenant, signal);
    }
    const updated = await withTransaction(pool, async (db) => {
      await this.assertOwnsRun(db, run);
      return this.recordFinalFailure(db, run, tenant, attempt, message, { changeSummary: result.changeSummary, error: result.error });
    });
    log.error({ tenant: tenant.slug, runId: run.id, attempts: attempt }, `${run.kind} of ${tenant.slug} failed: ${message}`);
    this.deps.metrics?.runFinished(run.kind, "failed");
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "FAILED", tenantStatus: updated.status, error: message });
  }

  /** A change's preview finished: the change awaits review with what it would do, or its preview failed. */
  private async finishPreview(run: RunRow, tenant: TenantRow, change: ChangeRow, result: PreviewResult): Promise<void> {
    const { pool, bus, log } = this.deps;
    const ok = result.status === "succeeded";
    const review = ok ? reviewOf(result.changes, result.changeSummary, result.tierChange) : null;
    const message = ok ? null : describeError(result.error);
    await withTransaction(pool, async (db) => {
      await this.assertOwnsRun(db, run);
      await updateRun(db, run.id, {
        status: ok ? "SUCCEEDED" : result.status === "cancelled" ? "CANCELLED" : "FAILED",
        error: message,
        result: { changeSummary: result.changeSummary, destructive: review?.destructive ?? null },
        finished: true,
      });
      const current = (await findChangeById(db, change.id))!;
      if (current.status !== "PREVIEWING") return; // rejected meanwhile
      const to = ok ? "PENDING_REVIEW" : "PREVIEW_FAILED";
      // The plan's contents are kept apart from its reference: the reference is small and read with every change.
      const { content, ...plan } = result.plan ?? { content: undefined };
      await updateChange(db, change.id, ok
        ? { status: to, preview: review!, destructive: review!.destructive, plan: result.plan ? plan : null, planContent: content ?? null, previewed: true }
        : { status: to, error: message, previewed: true });
      const s = result.changeSummary;
      await appendAudit(db, {
        tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: "PREVIEWING", to,
        message: ok
          ? `change ${change.id} previewed: ${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete${review!.destructive ? "; DESTRUCTIVE" : ""}`
          : `preview of change ${change.id} failed: ${message}`,
        details: { changeId: change.id, changeSummary: s, destructive: review?.destructive ?? null },
      });
    });
    log.info({ tenant: tenant.slug, runId: run.id, changeId: change.id, status: result.status }, `preview of change ${change.id} ${result.status}`);
    this.deps.metrics?.runFinished(run.kind, result.status);
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: ok ? "SUCCEEDED" : "FAILED", tenantStatus: tenant.status, error: message });
  }

  private async startApplying(run: RunRow, tenant: TenantRow, change: ChangeRow): Promise<void> {
    if (change.status === "APPLYING") return;
    await withTransaction(this.deps.pool, async (db) => {
      await updateChange(db, change.id, { status: "APPLYING", error: null });
      await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: change.status, to: "APPLYING", message: `applying change ${change.id}`, details: { changeId: change.id } });
    });
  }

  /**
   * Whether this update continues a change that already ran in part: a later
   * attempt of the run, or a retry run after a failed one. The plan then holds
   * the end state, not the starting point (see ProvisionRequest.planMode).
   */
  private async resumesChange(run: RunRow, attempt: number): Promise<boolean> {
    if (attempt > 1) return true;
    const { rows } = await this.deps.pool.query(`SELECT 1 FROM provisioning_runs WHERE change_id = $1 AND kind = 'update' AND id <> $2 LIMIT 1`, [run.changeId, run.id]);
    return rows.length > 0;
  }

  /**
   * The update refused to run outside its reviewed plan. Nothing was applied
   * when the engine found it before the first step (render engine; Pulumi
   * before any change): the tenant is as it was and the change is STALE.
   */
  private async planWentStale(run: RunRow, tenant: TenantRow, change: ChangeRow, result: OperationResult): Promise<void> {
    const { pool, bus } = this.deps;
    const message = describeError(result.error);
    const s = result.changeSummary;
    const touched = s.create + s.update + s.replace + s.delete > 0;
    const updated = await withTransaction(pool, async (db) => {
      await this.assertOwnsRun(db, run);
      await updateRun(db, run.id, { status: "FAILED", error: message, result: { changeSummary: s, error: result.error }, finished: true });
      await updateChange(db, change.id, { status: "STALE", error: message });
      await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: "APPLYING", to: "STALE", message: `change ${change.id} is stale: ${message}`, details: { changeId: change.id } });
      return this.setTenantStatus(db, run, tenant, touched ? "FAILED" : "ACTIVE", touched ? { provisioningError: message } : {},
        touched ? `update stopped part-way, outside its reviewed plan: ${message}` : `update not started: its plan is stale; the tenant is unchanged`);
    });
    this.deps.metrics?.runFinished(run.kind, "failed");
    await bus.publish({ type: "run-finished", tenantId: tenant.id, runId: run.id, kind: run.kind, status: "FAILED", tenantStatus: updated.status, error: message });
  }

  /** An update succeeded: the tenant is ACTIVE on its new tier, the change APPLIED, and everyone is told what changed. */
  private async updated(db: pg.PoolClient, run: RunRow, tenant: TenantRow, result: OperationResult, outputs: Record<string, unknown>): Promise<TenantRow> {
    const change = (await findChangeById(db, run.changeId!))!;
    const previous = (await findTenant(db, tenant.id))!;
    const t = await this.setTenantStatus(db, run, tenant, "ACTIVE", { provisioningError: null, outputs, tier: change.targetTier },
      `updated by change ${change.id}${previous.tier !== change.targetTier ? `: tier ${previous.tier} -> ${change.targetTier}` : ""}`, { changeId: change.id, changeSummary: result.changeSummary });
    await updateChange(db, change.id, { status: "APPLIED", applied: true, error: null });
    await appendAudit(db, {
      tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: "APPLYING", to: "APPLIED",
      message: `change ${change.id} applied`, details: { changeId: change.id, changeSummary: result.changeSummary, approvedBy: change.decidedBy },
    });
    const changed = (change.preview?.changes ?? []).map((c) => ({ op: c.op, name: c.name, type: c.type, phase: c.phase?.number ?? null, paths: c.diffs.map((d) => d.path) }));
    const data = {
      tenantId: tenant.id, slug: tenant.slug, region: tenant.region, changeId: change.id,
      fromTier: previous.tier, tier: change.targetTier, lastPhase: change.targetPhase,
      reason: change.requested.reason ?? null, requestedBy: change.createdBy, approvedBy: change.decidedBy,
      changeSummary: result.changeSummary,
    };
    await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.updated", payload: data });
    // The tenant's admin reads what they see (tier, quota, addresses); the resources, by name and type, go to the operators.
    const endpoints = (outputs.urls && typeof outputs.urls === "object" ? outputs.urls : {}) as Record<string, unknown>;
    const quota = (tier: string) => tierProfile(tier as TenantRow["tier"]).quota;
    await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "update-completed", payload: {
      to: tenant.adminEmail, displayName: tenant.displayName, ...data, fromQuota: quota(previous.tier), quota: quota(change.targetTier), endpoints,
    } });
    if (this.deps.opsEmail) {
      await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "update-applied-operators", payload: { to: this.deps.opsEmail, displayName: tenant.displayName, ...data, changes: changed } });
    }
    return t;
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
      if (run.kind === "preview" && run.changeId) {
        // A change's preview touched nothing: the tenant stays as it is, the change's preview failed.
        await updateRun(db, run.id, { status: "FAILED", error: message, result: { error: { code: "run_abandoned", message, retryable: true } }, finished: true });
        const change = await findChangeById(db, run.changeId);
        if (change?.status === "PREVIEWING") {
          await updateChange(db, change.id, { status: "PREVIEW_FAILED", error: message, previewed: true });
          await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: "PREVIEWING", to: "PREVIEW_FAILED", message: `preview of change ${change.id} failed: ${message}`, details: { changeId: change.id } });
        }
        return { run, tenant };
      }
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
    if (run.kind === "update" && run.changeId) {
      await updateChange(db, run.changeId, { status: "FAILED", error: message });
      await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "change", actor: "tenant-service", from: "APPLYING", to: "FAILED", message: `change ${run.changeId} failed: ${message}; retry the tenant to apply it again`, details: { changeId: run.changeId } });
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.update_failed", payload: { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, changeId: run.changeId, error: message, attempts: attempt } });
      return t;
    }
    const data = { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, error: message, attempts: attempt };
    await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.provisioning_failed", payload: data });
    await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "provisioning-failed", payload: { to: tenant.adminEmail, displayName: tenant.displayName, ...data } });
    return t;
  }

  /** Rollback policy `destroy`: remove whatever the failed run left, and mark those phases rolled back. */
  private async destroyAfterFailure(run: RunRow, tenant: TenantRow, signal: AbortSignal): Promise<void> {
    const recorder = await PhaseRecorder.start({ pool: this.deps.pool, bus: this.deps.bus, tenantId: tenant.id, runId: run.id, actor: "rollback-policy", attempt: run.attempt });
    const result = await this.deps.engine.teardown({
      spec: tenantSpecOf(tenant), settings: (await currentPlatformSettings(this.deps.pool, this.deps.settings)).settings, signal, onEvent: recorder.onEvent, ownerDead: false,
      lastPhase: await highestTargetPhase(this.deps.pool, tenant.id), stackSettings: await findStackSettings(this.deps.pool, tenant.slug),
    });
    await recorder.flush();
    await this.rememberStackSettings(tenant, result);
    await withTransaction(this.deps.pool, async (db) => {
      await this.assertOwnsRun(db, run);
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

