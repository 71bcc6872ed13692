/**
 * Keeps a drift check: the one place where a check's result becomes the
 * tenant's drift history (drift_checks, tenant_drift), news told once per
 * change of state (the tenant.drift_detected and tenant.drift_resolved events,
 * the operators' mails), a metric and a live `drift` message. A fleet run's
 * checks (fleet-runner.ts) and a one-off check of one tenant
 * (drift-service.ts) are kept through it alike; only `driftRunId` tells them
 * apart.
 *
 * A check is kept only if, under the tenant's row lock, the tenant is still
 * ACTIVE, has no run in flight and had none start since the check began: a
 * check that overlapped a provisioning, update or teardown run may have read
 * the tenant half changed, and is not the tenant's drift.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { knownSecrets, redactDriftedResources, redactValue, type DriftCheckResult } from "../../automation/index.ts";
import { recordDriftCheck, type DriftCheckRow, type DriftState, type RecordedCheck } from "../db/drift.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import { withTransaction, type Queryable } from "../db/pool.ts";
import { activeRun, changedSince } from "../db/runs.ts";
import { findTenant, type TenantRow } from "../db/tenants.ts";
import type { LiveMessage } from "../live/progress-bus.ts";

const MAX_REASON_LENGTH = 2000;
export const clip = (s: string) => (s.length > MAX_REASON_LENGTH ? `${s.slice(0, MAX_REASON_LENGTH)}…` : s);

/** Why a check is not kept; `final` when the tenant will not become checkable again (gone, deleted, failed). */
export interface NotRecorded {
  readonly recorded: false;
  readonly reason: string;
  readonly final: boolean;
}

export interface Recorded {
  readonly recorded: true;
  readonly check: DriftCheckRow;
  /** Since when the tenant's checks have found this state. */
  readonly since: Date;
}

export type RecordOutcome = Recorded | NotRecorded;

/**
 * What the fleet stream and a tenant's stream send when a check is kept: the
 * tenant's new drift state, never the resources or their values (those are
 * read through GET /api/v1/tenants/{id}/drift, with a read token).
 */
export interface DriftLiveMessage extends LiveMessage {
  readonly type: "drift";
  readonly tenantId: string;
  readonly checkId: string;
  readonly driftRunId: string | null;
  readonly state: DriftState;
  readonly since: string;
  readonly lastCheckedAt: string;
}

const notRecorded = (reason: string, final = false): NotRecorded => ({ recorded: false, reason, final });
/** "a provision run", "an update run". */
const aRun = (kind: string) => `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} run`;

/** IN_SYNC, DRIFTED, or CHECK_FAILED when the engine could not check. */
export function driftStateOf(result: DriftCheckResult): DriftState {
  return result.status === "failed" ? "CHECK_FAILED" : result.drifted.length > 0 ? "DRIFTED" : "IN_SYNC";
}

/**
 * Why a check of the tenant would not be kept now (null: it would be). With
 * `checkStartedAt` (the database's clock when the check began), a run that
 * started since then counts too, even if it has already ended.
 */
export async function whyNotRecordable(db: Queryable, tenant: TenantRow | undefined, checkStartedAt: Date | null = null): Promise<NotRecorded | null> {
  if (!tenant) return notRecorded("the tenant is gone", true);
  // Gone or failed is for good; any other state is a run under way (provisioning, an update, a teardown) that will end.
  if (tenant.status === "DELETED" || tenant.status === "FAILED") return notRecorded(`the tenant is no longer ACTIVE (${tenant.status})`, true);
  if (tenant.status !== "ACTIVE") return notRecorded(`the tenant is ${tenant.status}`);
  const run = await activeRun(db, tenant.id);
  if (run) return notRecorded(`${aRun(run.kind)} is in progress`);
  const started = checkStartedAt ? await changedSince(db, tenant.id, checkStartedAt) : undefined;
  return started ? notRecorded(`${aRun(started.kind)} started while the check ran`) : null;
}

export interface DriftRecorderOptions {
  pool: pg.Pool;
  /** Where a kept check is announced live (the fleet stream forwards it). */
  bus: { publish(message: LiveMessage): Promise<void> };
  /** Where drift and its resolution are mailed (MATIH_OPS_EMAIL); null: no mail. */
  opsEmail: string | null;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  metrics?: { driftChecked(state: DriftState, seconds: number): void };
}

export class DriftRecorder {
  private readonly options: DriftRecorderOptions;

  constructor(options: DriftRecorderOptions) {
    this.options = options;
  }

  /**
   * Keeps one finished check in one transaction (history, state, events and
   * mails), then counts it and announces it live. A cancelled check, or one
   * of a tenant that is no longer checkable (see whyNotRecordable), is not
   * kept; the answer says why.
   */
  async record(input: { tenantId: string; driftRunId: string | null; checkStartedAt: Date | null; result: DriftCheckResult }): Promise<RecordOutcome> {
    const { tenantId, driftRunId, result } = input;
    if (result.status === "cancelled") return notRecorded("the check was cancelled before it finished");
    const state = driftStateOf(result);
    const reason = result.status === "failed" ? clip(redactValue(describeFailure(result))) : null;
    // The history is kept and shown to read tokens: masked whatever the engine did.
    const resources = redactDriftedResources(result.drifted, knownSecrets());
    const outcome = await withTransaction(this.options.pool, async (db) => {
      const tenant = await findTenant(db, tenantId, { forUpdate: true });
      const refused = await whyNotRecordable(db, tenant, input.checkStartedAt);
      if (refused) return refused;
      const stored = await recordDriftCheck(db, { id: randomUUID(), tenantId, runId: driftRunId, state, reason, resources, durationMs: result.durationMs });
      await this.announce(db, tenant!, stored);
      return { recorded: true as const, check: stored.check, since: stored.stateSince, slug: tenant!.slug };
    });
    if (!outcome.recorded) return outcome;
    this.options.metrics?.driftChecked(state, result.durationMs / 1000);
    if (state !== "IN_SYNC") this.options.log.info({ tenant: outcome.slug, driftRunId, state, drifted: result.drifted.length, reason }, `drift check of ${outcome.slug}: ${state}`);
    await this.publish(outcome.check, outcome.since);
    return { recorded: true, check: outcome.check, since: outcome.since };
  }

  /** Live and best effort: the rows are the record, a dashboard that missed this reloads them. */
  private async publish(check: DriftCheckRow, since: Date): Promise<void> {
    const message: DriftLiveMessage = {
      type: "drift",
      tenantId: check.tenantId,
      checkId: check.id,
      driftRunId: check.runId,
      state: check.state,
      since: new Date(since).toISOString(),
      lastCheckedAt: new Date(check.checkedAt).toISOString(),
    };
    try {
      await this.options.bus.publish(message);
    } catch (err) {
      this.options.log.warn({ err, tenantId: check.tenantId }, "could not announce a drift check live");
    }
  }

  /** Tells once per change of state: detected when drift appears, resolved when it is gone. */
  private async announce(db: pg.PoolClient, tenant: TenantRow, recorded: RecordedCheck): Promise<void> {
    const { check, wasDrifted, isDrifted } = recorded;
    const { opsEmail } = this.options;
    if (isDrifted === wasDrifted || isDrifted === null) return;
    if (!isDrifted && wasDrifted === null) return; // first check, in sync: nothing to tell
    const base = { tenantId: tenant.id, slug: tenant.slug, tier: tenant.tier, region: tenant.region, checkId: check.id, driftRunId: check.runId };
    const checkedAt = new Date(check.checkedAt).toISOString();
    if (isDrifted) {
      const resources = check.resources.map((r) => ({ urn: r.urn, type: r.type, phase: r.phase, drift: r.drift, properties: r.properties }));
      const payload = { ...base, detectedAt: checkedAt, resources };
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.drift_detected", payload });
      if (opsEmail) await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "drift-detected", payload: { to: opsEmail, displayName: tenant.displayName, ...payload } });
    } else {
      const since = recorded.driftedSince ? new Date(recorded.driftedSince).toISOString() : null;
      const payload = { ...base, resolvedAt: checkedAt, driftedSince: since };
      await enqueueOutbox(db, { kind: "event", tenantId: tenant.id, type: "tenant.drift_resolved", payload });
      if (opsEmail) await enqueueOutbox(db, { kind: "email", tenantId: tenant.id, type: "drift-resolved", payload: { to: opsEmail, displayName: tenant.displayName, ...payload } });
    }
  }
}

/** A failed check's reason, as the history keeps it. */
export function describeFailure(result: DriftCheckResult): string {
  const error = result.error;
  if (!error) return "the drift check failed without a reason";
  if (error.code === "stack_not_found") return `the tenant has no stack to compare with: ${error.message}`;
  return `${error.phase ? `phase ${error.phase.number} ${error.phase.name}: ` : ""}${error.message}`;
}
