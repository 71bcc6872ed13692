/**
 * Works one fleet drift run: every tenant of the run gets a refresh preview
 * (engine.driftCheck), a few at a time, and each result is kept through the
 * DriftRecorder (check-recorder.ts), as a one-off check is: the tenant's new
 * drift state in one transaction, with an event (and a mail to the operators)
 * only when the state changes, and a live `drift` message.
 *
 * A check never gets in the way of a provisioning, update or teardown run: a
 * tenant with a run in flight is SKIPPED and tried again later in the same
 * fleet run; a check still going when a run for its tenant starts in this
 * process is cancelled (yieldTenant) and skipped; and a check that finishes
 * while a run is in flight elsewhere, or after one started and ended during
 * it, is discarded (skipped) rather than recorded, since it may have read the
 * tenant half changed.
 */
import type pg from "pg";
import type { DriftCheckResult, TenantEngine } from "../../automation/index.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import {
  beginDriftRun, claimDriftTenant, driftRunBacklog, finishDriftRun, pruneDrift, releaseDriftRun, releaseDriftTenant, skipDriftTenant, touchDriftRun,
} from "../db/drift.ts";
import { highestTargetPhase } from "../db/runs.ts";
import { findTenant, tenantSpecOf } from "../db/tenants.ts";
import { clip, whyNotRecordable, type DriftRecorder, type NotRecorded } from "./check-recorder.ts";
import { currentPlatformSettings } from "../domain/platform-settings.ts";

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
  /** Keeps each check, with its events, mails, metric and live message (shared with one-off checks). */
  recorder: DriftRecorder;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** How often a working process touches its run; a run untouched for a minute is taken over. */
const HEARTBEAT_MS = 15_000;

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
    // Before the run is reported finished: whoever reads the history once it has finished sees it pruned. The run
    // itself is not finished yet, so it and its checks (each tenant's latest) are kept.
    const pruned = await pruneDrift(pool, this.options.retentionDays);
    await finishDriftRun(pool, runId, "SUCCEEDED");
    log.info({ driftRunId: runId, pruned }, "fleet drift run finished");
  }

  private async workTenants(runId: string): Promise<void> {
    const { pool, maxSkips } = this.options;
    while (!this.shutdown.signal.aborted) {
      const claimed = await claimDriftTenant(pool, runId, maxSkips);
      if (!claimed) return;
      try {
        await this.checkTenant(runId, claimed.tenantId, claimed.claimedAt);
      } catch (error) {
        await releaseDriftTenant(pool, runId, claimed.tenantId).catch(() => undefined);
        throw error;
      }
    }
  }

  /** `claimedAt`: when this process took the tenant (database clock); a run started since makes the check void. */
  private async checkTenant(runId: string, tenantId: string, claimedAt: Date): Promise<void> {
    const { pool, engine, settings, retrySeconds, maxSkips, recorder } = this.options;
    const skip = (s: NotRecorded) => skipDriftTenant(pool, runId, tenantId, s.reason, retrySeconds, { final: s.final, maxSkips });

    const tenant = await findTenant(pool, tenantId);
    const busy = await whyNotRecordable(pool, tenant);
    if (!tenant || busy) return skip(busy!);

    const controller = new AbortController();
    const onShutdown = () => controller.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    this.checking.set(tenantId, controller);
    let result: DriftCheckResult;
    try {
      // The current settings version with this process's cluster connection, as runs use: a rotated credential or a
      // new version is in effect at the next check, not at the next restart.
      const current = (await currentPlatformSettings(pool, settings)).settings;
      result = await engine.driftCheck({ spec: tenantSpecOf(tenant), settings: current, signal: controller.signal, lastPhase: await highestTargetPhase(pool, tenant.id) });
    } finally {
      this.checking.delete(tenantId);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
    }
    if (this.shutdown.signal.aborted) {
      await releaseDriftTenant(pool, runId, tenantId);
      this.shutdown.signal.throwIfAborted();
    }
    if (result.status === "cancelled") return skip({ recorded: false, reason: "gave way to a run for this tenant", final: false });

    const outcome = await recorder.record({ tenantId, driftRunId: runId, checkStartedAt: claimedAt, result });
    if (!outcome.recorded) return skip(outcome);
  }
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
