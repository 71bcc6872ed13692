/**
 * Rollouts in waves (issue 23): an approved fleet change's settings version
 * applied tenant by tenant. Each tenant goes the way of a tenant change: a
 * preview run saves its plan, and an update run applies exactly that plan.
 * The rollout approves a tenant's change itself when the tenant's own preview
 * changes the same resources the same way as the fleet preview that was
 * reviewed; otherwise (its stack moved since, or its preview differs) the
 * change is left awaiting review, and the tenant is listed as held.
 *
 * The rollout advances in passes (`tick`), each a pg-boss job (db/fleet-
 * rollout-queue.ts) in one transaction that takes the rollout's row with SKIP
 * LOCKED: the state is all in PostgreSQL, so a rollout goes on after a
 * restart, and two processes never advance one at once (nor queue a tenant's
 * runs twice).
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { EngineKind } from "../../automation/index.ts";
import { appendAudit } from "../db/audit.ts";
import { findChangeById, insertChange, updateChange, type ChangeRow } from "../db/changes.ts";
import { tenantDriftState } from "../db/drift.ts";
import {
  appendFleetAudit, findFleetChange, findRollout, rolloutTenants, updateRollout, updateRolloutTenant,
  type FleetChangeRow, type RolloutRow, type RolloutTenantRow, type RolloutTenantStatus,
} from "../db/fleet-changes.ts";
import type { RolloutQueue } from "../db/fleet-rollout-queue.ts";
import type { RunQueue } from "../db/job-queue.ts";
import { enqueueOutbox } from "../db/outbox.ts";
import { markTenantSettingsApplied } from "../db/platform-settings.ts";
import { withTransaction } from "../db/pool.ts";
import { activeRun, changedSince, currentExtent, insertRun, updateRun } from "../db/runs.ts";
import { findTenant, type TenantRow } from "../db/tenants.ts";
import { queueUpdateRun } from "./change-service.ts";
import { NO_LIMITS, roomForRun, type AdmissionLimits } from "./admission.ts";
import { ApiError, notFound } from "./errors.ts";
import { resourceKeys } from "./fleet-changes.ts";

/** How soon the next pass looks again while tenants are being previewed or applied. */
export const TICK_MS = 1000;

const IN_FLIGHT: readonly RolloutTenantStatus[] = ["PREVIEWING", "APPLYING"];
const DONE: readonly RolloutTenantStatus[] = ["SUCCEEDED", "UNCHANGED", "FAILED", "SKIPPED", "HELD"];

/** What the live stream carries: a rollout's state, or one tenant's place in it; waves count from 1, as in the API. */
export type RolloutMessage =
  | { type: "rollout"; tenantId: string; rolloutId: string; status: string; currentWave: number; waveCount: number; haltedReason: string | null }
  | { type: "rollout-tenant"; tenantId: string; rolloutId: string; slug: string; wave: number; status: RolloutTenantStatus; reason: string | null };

export interface RolloutDeps {
  pool: pg.Pool;
  runQueue: RunQueue;
  rolloutQueue: RolloutQueue;
  engine: { kind: EngineKind };
  maxAttempts: number;
  /** MATIH_CHANGE_TTL_HOURS: a held tenant's change awaits review this long. */
  changeTtlHours: number;
  /** The pending-run limits: a rollout starts its next tenant only when its run fits them (as the approver's). Default none. */
  limits?: AdmissionLimits;
  publish?: (message: RolloutMessage) => void;
}

/** The rollout's stream key: tenant ids are UUIDs, so this never names a tenant's stream. */
export const rolloutStreamKey = (rolloutId: string) => `fleet-rollout:${rolloutId}`;

export function rolloutMessage(r: RolloutRow): RolloutMessage {
  return { type: "rollout", tenantId: rolloutStreamKey(r.id), rolloutId: r.id, status: r.status, currentWave: Math.min(r.currentWave + 1, r.waveCount), waveCount: r.waveCount, haltedReason: r.haltedReason };
}

/** One pass's work: what it changed, to tell the live stream once committed. */
class Pass {
  readonly messages: RolloutMessage[] = [];
  changed = false;
  readonly db: pg.PoolClient;
  rollout: RolloutRow;
  readonly change: FleetChangeRow;
  constructor(db: pg.PoolClient, rollout: RolloutRow, change: FleetChangeRow) {
    this.db = db;
    this.rollout = rollout;
    this.change = change;
  }
}

export class RolloutDriver {
  private readonly deps: RolloutDeps;

  constructor(deps: RolloutDeps) {
    this.deps = deps;
  }

  /** The actor of what the rollout does on its own: the admin who approved it, through the rollout. */
  private actor(r: RolloutRow): string {
    return r.createdBy;
  }

  /** Whether the run a tenant's next step queues fits the pending-run limits, counted as the approver's. */
  private roomForRun(db: pg.PoolClient, r: RolloutRow): Promise<boolean> {
    return roomForRun(db, this.actor(r), this.deps.limits ?? NO_LIMITS);
  }

  /**
   * One pass: follows the tenants being previewed or applied, starts the next
   * ones of the current wave up to the concurrency limit, and closes the wave
   * (halting the rollout past its failure threshold). Queues the next pass
   * while there is anything left to follow.
   */
  async tick(rolloutId: string): Promise<void> {
    const outcome = await withTransaction(this.deps.pool, async (db) => {
      const rollout = await findRollout(db, rolloutId, { skipLocked: true });
      if (!rollout) return { again: (await findRollout(db, rolloutId)) !== undefined, messages: [] as RolloutMessage[] };
      const change = (await findFleetChange(db, rollout.changeId))!;
      const pass = new Pass(db, rollout, change);
      for (let round = 0; round <= rollout.waveCount + 1; round++) {
        pass.changed = false;
        await this.follow(pass);
        if (pass.rollout.status === "RUNNING") {
          await this.start(pass);
          await this.closeWave(pass);
        }
        if (!pass.changed) break;
      }
      const inFlight = await rolloutTenants(db, rolloutId, { statuses: [...IN_FLIGHT] });
      return { again: pass.rollout.status === "RUNNING" || inFlight.length > 0, messages: pass.messages };
    });
    for (const message of outcome.messages) this.deps.publish?.(message);
    if (outcome.again) await this.deps.rolloutQueue.schedule(rolloutId, { afterMs: TICK_MS });
  }

  private async setTenant(pass: Pass, t: RolloutTenantRow, status: RolloutTenantStatus, change: { changeId?: string | null; runId?: string | null; reason?: string | null; attempt?: boolean } = {}): Promise<void> {
    await updateRolloutTenant(pass.db, t.rolloutId, t.tenantId, { status, ...change });
    pass.changed = true;
    const reason = change.reason !== undefined ? change.reason : t.reason;
    pass.messages.push({ type: "rollout-tenant", tenantId: t.tenantId, rolloutId: t.rolloutId, slug: t.slug, wave: t.wave + 1, status, reason });
  }

  /** Tenants being previewed or applied, in every wave (a halted or aborted rollout still follows what it started). */
  private async follow(pass: Pass): Promise<void> {
    const { db, rollout, change } = pass;
    for (const t of await rolloutTenants(db, rollout.id, { statuses: [...IN_FLIGHT] })) {
      const tc = t.changeId ? await findChangeById(db, t.changeId) : undefined;
      if (!tc) {
        await this.setTenant(pass, t, "FAILED", { reason: "its change is gone" });
        continue;
      }
      if (t.status === "PREVIEWING") {
        if (tc.status === "PREVIEWING") continue;
        if (tc.status !== "PENDING_REVIEW") {
          await this.setTenant(pass, t, "FAILED", { reason: tc.status === "PREVIEW_FAILED" ? `its preview failed: ${tc.error ?? "no reason given"}` : `its change became ${tc.status}` });
          continue;
        }
        const expected = change.tenants.find((x) => x.tenantId === t.tenantId)?.resources ?? [];
        const own = resourceKeys(tc.preview?.changes ?? []);
        if (own.join("\n") !== expected.join("\n")) {
          await this.setTenant(pass, t, "HELD", { reason: `its own preview changes ${own.length} resources where the fleet preview changed ${expected.length} (or changes them differently); change ${tc.id} awaits review` });
          continue;
        }
        if (tc.destructive && !rollout.config.allowDestructive) {
          await this.setTenant(pass, t, "HELD", { reason: `its preview deletes or replaces stateful resources and the rollout does not allow it; change ${tc.id} awaits review` });
          continue;
        }
        const tenant = (await findTenant(db, t.tenantId, { forUpdate: true }))!;
        const since = tc.previewedAt ? await changedSince(db, tenant.id, new Date(tc.previewedAt)) : undefined;
        const busy = await activeRun(db, tenant.id);
        if (tenant.status !== "ACTIVE" || since || busy) {
          const why = since ? `a ${since.kind} run started after its preview` : busy ? `a ${busy.kind} run is in progress` : `it is ${tenant.status}`;
          await this.setTenant(pass, t, "HELD", { reason: `${why}; change ${tc.id} awaits review` });
          continue;
        }
        const run = await this.approveTenantChange(db, rollout, tenant, tc);
        await this.setTenant(pass, t, "APPLYING", { runId: run });
      } else {
        if (tc.status === "APPLIED") await this.setTenant(pass, t, "SUCCEEDED", { reason: null });
        else if (tc.status === "FAILED") await this.setTenant(pass, t, "FAILED", { reason: `its update failed: ${tc.error ?? "no reason given"}` });
        else if (tc.status === "STALE") {
          // The stack moved between the preview and the update: previewed again, for a person to review.
          const tenant = (await findTenant(db, t.tenantId, { forUpdate: true }))!;
          const held = await this.requestTenantChange(db, rollout, tenant);
          await this.setTenant(pass, t, "HELD", { changeId: held?.id ?? tc.id, reason: `its stack changed before the update applied its plan; ${held ? `previewed again as change ${held.id}, awaiting review` : "request a change for it once it is idle"}` });
        }
      }
    }
  }

  /** The rollout approves a tenant's change whose preview matched the reviewed fleet preview, and queues the update that applies its plan. */
  private async approveTenantChange(db: pg.PoolClient, rollout: RolloutRow, tenant: TenantRow, tc: ChangeRow): Promise<string> {
    const actor = this.actor(rollout);
    const approved = await updateChange(db, tc.id, { status: "APPROVED", decidedBy: actor, allowDestructive: rollout.config.allowDestructive });
    await appendAudit(db, {
      tenantId: tenant.id, entity: "change", actor, from: "PENDING_REVIEW", to: "APPROVED",
      message: `change ${tc.id} approved by rollout ${rollout.id} (fleet change ${rollout.changeId}, approved by ${actor}): its preview matches the reviewed fleet preview`,
      details: { changeId: tc.id, rolloutId: rollout.id, fleetChangeId: rollout.changeId },
    });
    const { run } = await queueUpdateRun(db, { queue: this.deps.runQueue, engine: this.deps.engine, maxAttempts: this.deps.maxAttempts }, tenant, approved, actor);
    return run.id;
  }

  /** A tenant change converging the tenant to its spec on the new settings, with its preview run queued (ChangeService.request's, in this transaction). */
  private async requestTenantChange(db: pg.PoolClient, rollout: RolloutRow, tenant: TenantRow): Promise<ChangeRow | undefined> {
    if (tenant.status !== "ACTIVE" || (await activeRun(db, tenant.id))) return undefined;
    const actor = this.actor(rollout);
    const reason = `settings version ${rollout.settingsVersion} (fleet change ${rollout.changeId}, rollout ${rollout.id})`;
    const change = await insertChange(db, { id: randomUUID(), tenantId: tenant.id, requested: { reason }, targetTier: tenant.tier, targetPhase: await currentExtent(db, tenant.id), createdBy: actor, ttlHours: this.deps.changeTtlHours });
    await appendAudit(db, { tenantId: tenant.id, entity: "change", actor, from: null, to: "PREVIEWING", message: `change ${change.id} requested by rollout ${rollout.id}: ${reason}`, details: { changeId: change.id, rolloutId: rollout.id } });
    let run = await insertRun(db, { id: randomUUID(), tenantId: tenant.id, kind: "preview", maxAttempts: 1, engine: this.deps.engine.kind, targetPhase: change.targetPhase, requestedBy: actor, changeId: change.id });
    const jobId = await this.deps.runQueue.enqueue(db, { runId: run.id, tenantId: tenant.id });
    run = await updateRun(db, run.id, { jobId });
    await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "run", actor, from: null, to: "QUEUED", message: `preview of change ${change.id} queued by rollout ${rollout.id}` });
    return updateChange(db, change.id, { previewRunId: run.id });
  }

  /** Starts the current wave's next tenants, up to the concurrency limit. */
  private async start(pass: Pass): Promise<void> {
    const { db, rollout, change } = pass;
    const wave = await rolloutTenants(db, rollout.id, { wave: rollout.currentWave });
    let inFlight = (await rolloutTenants(db, rollout.id, { statuses: [...IN_FLIGHT] })).length;
    for (const t of wave) {
      if (inFlight >= rollout.config.concurrency) break;
      if (t.status !== "PENDING") continue;
      if (this.overThreshold(rollout, wave)) break;
      const tenant = await findTenant(db, t.tenantId, { forUpdate: true });
      if (!tenant || tenant.status === "DELETED") {
        await this.setTenant(pass, t, "SKIPPED", { reason: "the tenant was deleted" });
        continue;
      }
      // A tenant whose update failed in this rollout, resumed after a fix: the same change applied again (as a tenant retry does).
      if (tenant.status === "FAILED" && t.attempts > 0 && t.changeId) {
        const failed = await findChangeById(db, t.changeId);
        if (failed?.status === "FAILED") {
          if (!(await this.roomForRun(db, rollout))) break;
          const actor = this.actor(rollout);
          await updateChange(db, failed.id, { status: "APPROVED", error: null });
          await appendAudit(db, { tenantId: tenant.id, entity: "change", actor, from: "FAILED", to: "APPROVED", message: `change ${failed.id} retried by rollout ${rollout.id}`, details: { changeId: failed.id, rolloutId: rollout.id } });
          const { run } = await queueUpdateRun(db, { queue: this.deps.runQueue, engine: this.deps.engine, maxAttempts: this.deps.maxAttempts }, tenant, failed, actor);
          await this.setTenant(pass, t, "APPLYING", { runId: run.id, reason: null, attempt: true });
          inFlight += 1;
          continue;
        }
      }
      const skip = await this.skipReason(db, tenant);
      if (skip) {
        await this.setTenant(pass, t, "SKIPPED", { reason: skip });
        continue;
      }
      const entry = change.tenants.find((x) => x.tenantId === t.tenantId);
      const moved = await changedSince(db, tenant.id, new Date(change.previewedAt!));
      if (!moved && entry?.outcome === "no-change") {
        // Its render on the new settings equals its stack: nothing to apply, it is on the new version as it stands.
        await markTenantSettingsApplied(db, tenant.id, rollout.settingsVersion);
        await appendAudit(db, { tenantId: tenant.id, entity: "tenant", actor: this.actor(rollout), from: tenant.status, to: tenant.status, message: `settings version ${rollout.settingsVersion} changes none of its resources (rollout ${rollout.id})`, details: { rolloutId: rollout.id, settingsVersion: rollout.settingsVersion } });
        await this.setTenant(pass, t, "UNCHANGED", { reason: "the new settings change none of its resources", attempt: true });
        continue;
      }
      // The pending-run limits hold for a rollout's runs as for anyone's: at the limit, the next tenant waits for the next pass.
      if (!(await this.roomForRun(db, rollout))) break;
      const tc = (await this.requestTenantChange(db, rollout, tenant))!;
      if (moved || !entry || entry.outcome === "failed" || entry.outcome === "not-previewed") {
        const why = moved ? `its stack changed after the fleet preview (a ${moved.kind} run)` : "the fleet preview did not cover it";
        await this.setTenant(pass, t, "HELD", { changeId: tc.id, reason: `${why}: previewed again as change ${tc.id}, awaiting review`, attempt: true });
      } else {
        await this.setTenant(pass, t, "PREVIEWING", { changeId: tc.id, reason: null, attempt: true });
        inFlight += 1;
      }
    }
  }

  /** Why a tenant is left out of the rollout: busy, FAILED or drifted; undefined to go ahead. */
  private async skipReason(db: pg.PoolClient, tenant: TenantRow): Promise<string | undefined> {
    if (tenant.status === "FAILED") return "the tenant is FAILED: retry it (or roll it back) first";
    if (tenant.status !== "ACTIVE") return `busy: the tenant is ${tenant.status}`;
    const busy = await activeRun(db, tenant.id);
    if (busy) return `busy: a ${busy.kind} run is in progress`;
    const drift = await tenantDriftState(db, tenant.id);
    if (drift?.state === "DRIFTED") return "drifted: its resources differ from its record; converge it (a change with {}) first";
    return undefined;
  }

  private overThreshold(rollout: RolloutRow, wave: readonly RolloutTenantRow[]): string | undefined {
    const failed = wave.filter((t) => t.status === "FAILED").length;
    if (rollout.currentWave === 0) {
      return failed > rollout.config.canaryMaxFailures ? `${failed} of ${wave.length} tenants of the canary wave failed (more than ${rollout.config.canaryMaxFailures} allowed)` : undefined;
    }
    return failed * 100 > rollout.config.waveFailurePercent * wave.length
      ? `${failed} of ${wave.length} tenants of wave ${rollout.currentWave + 1} failed (more than ${rollout.config.waveFailurePercent} % allowed)`
      : undefined;
  }

  /** Halts the rollout past the wave's failure threshold; moves on (or completes) once every tenant of the wave is done. */
  private async closeWave(pass: Pass): Promise<void> {
    const { db } = pass;
    const rollout = pass.rollout;
    const wave = await rolloutTenants(db, rollout.id, { wave: rollout.currentWave });
    const counts = countByStatus(wave);
    const halt = this.overThreshold(rollout, wave);
    const actor = this.actor(rollout);
    if (halt) {
      pass.rollout = await updateRollout(db, rollout.id, { status: "HALTED", haltedReason: halt });
      await appendFleetAudit(db, { actor, from: "RUNNING", to: "HALTED", message: `rollout ${rollout.id} halted in wave ${rollout.currentWave + 1}: ${halt}`, details: { rolloutId: rollout.id, wave: rollout.currentWave + 1, counts } });
      await enqueueOutbox(db, { kind: "event", tenantId: null, type: "fleet.rollout_halted", payload: { rolloutId: rollout.id, fleetChangeId: rollout.changeId, settingsVersion: rollout.settingsVersion, wave: rollout.currentWave + 1, reason: halt, counts } });
      pass.messages.push(rolloutMessage(pass.rollout));
      pass.changed = true;
      return;
    }
    if (rollout.waveCount > 0 && !wave.every((t) => DONE.includes(t.status))) return;
    if (rollout.waveCount > 0) {
      await appendFleetAudit(db, { actor, from: null, to: "WAVE_COMPLETED", message: `rollout ${rollout.id}: wave ${rollout.currentWave + 1} of ${rollout.waveCount} completed`, details: { rolloutId: rollout.id, wave: rollout.currentWave + 1, counts } });
      await enqueueOutbox(db, { kind: "event", tenantId: null, type: "fleet.rollout_wave_completed", payload: { rolloutId: rollout.id, fleetChangeId: rollout.changeId, settingsVersion: rollout.settingsVersion, wave: rollout.currentWave + 1, waves: rollout.waveCount, counts } });
    }
    if (rollout.currentWave + 1 < rollout.waveCount) {
      pass.rollout = await updateRollout(db, rollout.id, { currentWave: rollout.currentWave + 1 });
    } else {
      pass.rollout = await updateRollout(db, rollout.id, { status: "COMPLETED", finished: true });
      const all = countByStatus(await rolloutTenants(db, rollout.id));
      await appendFleetAudit(db, { actor, from: "RUNNING", to: "COMPLETED", message: `rollout ${rollout.id} of settings version ${rollout.settingsVersion} completed`, details: { rolloutId: rollout.id, counts: all } });
      await enqueueOutbox(db, { kind: "event", tenantId: null, type: "fleet.rollout_completed", payload: { rolloutId: rollout.id, fleetChangeId: rollout.changeId, settingsVersion: rollout.settingsVersion, counts: all } });
    }
    pass.messages.push(rolloutMessage(pass.rollout));
    pass.changed = true;
  }

  private async transition(id: string, principal: string, allowed: readonly RolloutRow["status"][], verb: string, apply: (db: pg.PoolClient, r: RolloutRow) => Promise<RolloutRow>): Promise<RolloutRow> {
    const updated = await withTransaction(this.deps.pool, async (db) => {
      const r = await findRollout(db, id, { forUpdate: true });
      if (!r) throw notFound(`rollout "${id}"`);
      if (!allowed.includes(r.status)) throw new ApiError(409, "invalid_transition", `rollout ${id} is ${r.status} and cannot be ${verb}`);
      const next = await apply(db, r);
      await appendFleetAudit(db, { actor: principal, from: r.status, to: next.status, message: `rollout ${id} ${verb} by ${principal}`, details: { rolloutId: id } });
      await this.deps.rolloutQueue.schedule(id, { db });
      return next;
    });
    this.deps.publish?.(rolloutMessage(updated));
    return updated;
  }

  /** No tenant starts until resumed; those being previewed or applied finish. */
  pause(id: string, principal: string): Promise<RolloutRow> {
    return this.transition(id, principal, ["RUNNING"], "paused", (db) => updateRollout(db, id, { status: "PAUSED" }));
  }

  /**
   * Goes on from where it stopped. After a halt, the current wave's failed
   * tenants are tried again (`retryFailed`, default true), or else left as they
   * are and listed as skipped, so that they no longer count against the wave.
   */
  resume(id: string, principal: string, options: { retryFailed?: boolean } = {}): Promise<RolloutRow> {
    return this.transition(id, principal, ["PAUSED", "HALTED"], "resumed", async (db, r) => {
      if (r.status === "HALTED" && options.retryFailed !== false) {
        await db.query(`UPDATE fleet_rollout_tenants SET status = 'PENDING', updated_at = now() WHERE rollout_id = $1 AND wave = $2 AND status = 'FAILED'`, [id, r.currentWave]);
      } else if (r.status === "HALTED") {
        await db.query(
          `UPDATE fleet_rollout_tenants SET status = 'SKIPPED', reason = 'failed (' || COALESCE(reason, 'no reason given') || '); left as it is when the rollout was resumed by ' || $3, updated_at = now()
            WHERE rollout_id = $1 AND wave = $2 AND status = 'FAILED'`,
          [id, r.currentWave, principal],
        );
      }
      return updateRollout(db, id, { status: "RUNNING", haltedReason: null });
    });
  }

  /** Stops for good: no tenant starts any more (those not started are listed as skipped); those being previewed or applied finish. The version stays current. */
  abort(id: string, principal: string): Promise<RolloutRow> {
    return this.transition(id, principal, ["RUNNING", "PAUSED", "HALTED"], "aborted", async (db) => {
      await db.query(`UPDATE fleet_rollout_tenants SET status = 'SKIPPED', reason = 'the rollout was aborted before its turn', updated_at = now() WHERE rollout_id = $1 AND status = 'PENDING'`, [id]);
      return updateRollout(db, id, { status: "ABORTED", finished: true });
    });
  }
}

export function countByStatus(tenants: readonly { status: RolloutTenantStatus }[]): Partial<Record<RolloutTenantStatus, number>> {
  const counts: Partial<Record<RolloutTenantStatus, number>> = {};
  for (const t of tenants) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return counts;
}
