/**
 * Works one fleet drift run: every tenant of the run gets a refresh preview
 * (engine.driftCheck), a few at a time, and each result is stored with the
 * tenant's new drift state in one transaction, with an event (and a mail to
 * the operators) only when the state changes.
 *
 * A check never gets in the way of a provisioning, update or teardown run: a
 * tenant with a run in flight is SKIPPED and tried again later in the same
 * fleet run; a check still going when a run for its tenant starts in this
 * process is cancelled (yieldTenant) and skipped; and a check that finishes
 * while a run has started elsewhere is discarded (skipped) rather than
 * recorded, since it may have read the tenant half changed.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { DriftCheckResult, TenantEngine } from "../../automation/index.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import {
  beginDriftRun, claimDriftTenant, driftRunBacklog, finishDriftRun, pruneDrift, recordDriftCheck, releaseDriftRun, releaseDriftTenant, skipDriftTenant,
  touchDriftRun, type DriftState, type RecordedCheck,
} from "../db/drift.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import { withTransaction } from "../db/pool.ts";
import { activeRun } from "../db/runs.ts";
import { findTenant, tenantSpecOf, type TenantRow } from "../db/tenants.ts";

export interface FleetRunnerOptions {
  pool: pg.Pool;
  engine: TenantEngine;
  settings: PlatformSettings;
  /** Tenants checked at once (MATIH_DRIFT_CONCURRENCY). */
  concurrency: number;
  /** How long a skipped (busy) tenant waits before it is tried again (MATIH_DRIFT_RETRY_SECONDS). */
  retrySeconds: number;
  /** Times a busy tenant is tried before the run gives up on it. */
  maxSkips: number;
  /** Checks and runs older than this are forgotten after each run (MATIH_DRIFT_RETENTION_DAYS). */
  retentionDays: number;
  /** Where drift and its resolution are mailed (MATIH_OPS_EMAIL); null: no mail. */
  opsEmail: string | null;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  metrics?: { driftChecked(state: DriftState, seconds: number): void };
}

const MAX_REASON_LENGTH = 2000;
/** How often a working process touches its run; a run untouched for a minute is taken over. */
const HEARTBEAT_MS = 15_000;
const clip = (s: string) => (s.length > MAX_REASON_LENGTH ? `${s.slice(0, MAX_REASON_LENGTH)}…` : s);

/** Why a check was not recorded: the tenant is busy, or left the run for good. */
class Skip {
  readonly reason: string;
  readonly final: boolean;
  constructor(reason: string, final = false) {
    this.reason = reason;
    this.final = final;
  }
}

export class FleetRunner {
  private readonly options: FleetRunnerOptions;
  private readonly shutdown = new AbortController();
  /** Checks running in this process, by tenant id, so that a run for the tenant can make them give way. */
  private readonly checking = new Map<string, AbortController>();

  constructor(options: FleetRunnerOptions) {
    this.options = options;
  }

  /** A provisioning, update or teardown run is about to start for this tenant here: its check gives way. */
  yieldTenant(tenantId: string): boolean {
    const controller = this.checking.get(tenantId);
    controller?.abort(new Error("a run for this tenant is starting"));
    return controller !== undefined;
  }

  abortAll(): void {
    this.shutdown.abort(new Error("the service is shutting down"));
  }

  /** Works the run until every tenant is checked or given up on; resumes a run a dead process left. */
  async execute(runId: string): Promise<void> {
    const { pool, log } = this.options;
    const begun = await beginDriftRun(pool, runId);
    if (begun === "finished") {
      log.warn({ driftRunId: runId }, "fleet drift run is finished or gone; nothing to do");
      return;
    }
    // The queue retries the job; by then the other process has finished the run or stopped heart-beating.
    if (begun === "busy") throw new Error(`fleet drift run ${runId} is being worked by another process`);
    log.info({ driftRunId: runId }, begun === "resumed" ? "resuming fleet drift run" : "fleet drift run started");
    // Says "someone is on it", so that a scheduled job does not take the run over while this process works it.
    const heartbeat = setInterval(() => void touchDriftRun(pool, runId).catch(() => undefined), HEARTBEAT_MS);
    try {
      for (;;) {
        await Promise.all(Array.from({ length: this.options.concurrency }, () => this.workTenants(runId)));
        this.shutdown.signal.throwIfAborted();
        const backlog = await driftRunBacklog(pool, runId, this.options.maxSkips);
        if (backlog.due > 0) continue;
        if (!backlog.nextRetryAt) break;
        // Only busy tenants are left: wait for the first of them to be due again.
        await sleep(Math.max(new Date(backlog.nextRetryAt).getTime() - Date.now(), 50), this.shutdown.signal);
      }
    } catch (error) {
      if (this.shutdown.signal.aborted) {
        clearInterval(heartbeat);
        await releaseDriftRun(pool, runId).catch(() => undefined);
        log.warn({ driftRunId: runId }, "fleet drift run interrupted by shutdown; another process takes it over");
        throw error;
      }
      await finishDriftRun(pool, runId, "FAILED", clip(error instanceof Error ? error.message : String(error)));
      log.error({ driftRunId: runId, err: error }, "fleet drift run failed");
      return;
    } finally {
      clearInterval(heartbeat);
    }
    await finishDriftRun(pool, runId, "SUCCEEDED");
    const pruned = await pruneDrift(pool, this.options.retentionDays);
    log.info({ driftRunId: runId, pruned }, "fleet drift run finished");
  }

  private async workTenants(runId: string): Promise<void> {
    const { pool, maxSkips } = this.options;
    while (!this.shutdown.signal.aborted) {
      const tenantId = await claimDriftTenant(pool, runId, maxSkips);
      if (!tenantId) return;
      try {
        await this.checkTenant(runId, tenantId);
      } catch (error) {
        await releaseDriftTenant(pool, runId, tenantId).catch(() => undefined);
        throw error;
      }
    }
  }

  private async checkTenant(runId: string, tenantId: string): Promise<void> {
    const { pool, engine, settings, retrySeconds, maxSkips, log } = this.options;
    const skip = (s: Skip) => skipDriftTenant(pool, runId, tenantId, s.reason, retrySeconds, { final: s.final, maxSkips });

    const tenant = await findTenant(pool, tenantId);
    const busy = tenant && (await this.busyReason(pool, tenant));
    if (!tenant || busy) return skip(busy ?? new Skip("the tenant is gone", true));

    const controller = new AbortController();
    const onShutdown = () => controller.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    this.checking.set(tenantId, controller);
    let result: DriftCheckResult;
    try {
      result = await engine.driftCheck({ spec: tenantSpecOf(tenant), settings, signal: controller.signal });
    } finally {
      this.checking.delete(tenantId);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
    }
    if (this.shutdown.signal.aborted) {
      await releaseDriftTenant(pool, runId, tenantId);
      this.shutdown.signal.throwIfAborted();
    }
    if (result.status === "cancelled") return skip(new Skip("gave way to a run for this tenant"));

    const state: DriftState = result.status === "failed" ? "CHECK_FAILED" : result.drifted.length > 0 ? "DRIFTED" : "IN_SYNC";
    const reason = result.status === "failed" ? clip(describeFailure(result)) : null;
    const recorded = await withTransaction(pool, async (db) => {
      const current = await findTenant(db, tenantId, { forUpdate: true });
      const busyNow = current && (await this.busyReason(db, current));
      if (!current || busyNow) return busyNow ?? new Skip("the tenant is gone", true);
      const stored = await recordDriftCheck(db, { id: randomUUID(), tenantId, runId, state, reason, resources: result.drifted, durationMs: result.durationMs });
      await this.announce(db, current, stored);
      return stored;
    });
    if (recorded instanceof Skip) return skip(recorded);
    this.options.metrics?.driftChecked(state, result.durationMs / 1000);
    if (state !== "IN_SYNC") log.info({ tenant: tenant.slug, driftRunId: runId, state, drifted: result.drifted.length, reason }, `drift check of ${tenant.slug}: ${state}`);
  }

  /** Why the tenant cannot be checked now (null: it can). */
  private async busyReason(db: pg.Pool | pg.PoolClient, tenant: TenantRow): Promise<Skip | null> {
    // Gone or failed is for good; any other state is a run under way (provisioning, an update, a teardown) that will end.
    if (tenant.status === "DELETED" || tenant.status === "FAILED") return new Skip(`the tenant is no longer ACTIVE (${tenant.status})`, true);
    if (tenant.status !== "ACTIVE") return new Skip(`the tenant is ${tenant.status}`);
    const run = await activeRun(db, tenant.id);
    return run ? new Skip(`a ${run.kind} run is in progress`) : null;
  }

  /** Tells once per change of state: detected when drift appears, resolved when it is gone. */
  private async announce(db: pg.PoolClient, tenant: TenantRow, recorded: RecordedCheck): Promise<void> {
    const { check, wasDrifted, isDrifted } = recorded;
    if (isDrifted === wasDrifted || isDrifted === null) return;
    if (!isDrifted && wasDrifted === null) return; // first check, in sync: nothing to tell
    const base = { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, checkId: check.id, driftRunId: check.runId };
    const checkedAt = new Date(check.checkedAt).toISOString();
    if (isDrifted) {
      const resources = check.resources.map((r) => ({ urn: r.urn, type: r.type, phase: r.phase, drift: r.drift, properties: r.properties }));
      const payload = { ...base, detectedAt: checkedAt, resources };
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.drift_detected", payload });
      if (this.options.opsEmail) await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "drift-detected", payload: { to: this.options.opsEmail, displayName: tenant.displayName, ...payload } });
    } else {
      const since = recorded.driftedSince ? new Date(recorded.driftedSince).toISOString() : null;
      const payload = { ...base, resolvedAt: checkedAt, driftedSince: since };
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.drift_resolved", payload });
      if (this.options.opsEmail) await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "drift-resolved", payload: { to: this.options.opsEmail, displayName: tenant.displayName, ...payload } });
    }
  }
}

function describeFailure(result: DriftCheckResult): string {
  const error = result.error;
  if (!error) return "the drift check failed without a reason";
  if (error.code === "stack_not_found") return `the tenant has no stack to compare with: ${error.message}`;
  return `${error.phase ? `phase ${error.phase.number} ${error.phase.name}: ` : ""}${error.message}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
