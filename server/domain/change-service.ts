/**
 * Changes through review: a requested change to a tenant is previewed by a
 * run of its own (same queue, one run per tenant at a time) that saves an
 * update plan; an admin approves it, and an `update` run applies exactly that
 * plan, or rejects it. Refusals are decided under row locks, in one
 * transaction with the state they record (a change found expired or stale is
 * marked so before the refusal is answered).
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { EngineKind, ResourceChange, TenantEngine, TierChangePreview } from "../../automation/index.ts";
import { PHASE_COUNT, PHASES } from "../../model/phases.ts";
import { printableLineProblem } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { appendAudit } from "../db/audit.ts";
import type { BackupRow } from "../db/backups.ts";
import { changeExpired, findChange, findPendingActionRequest, findPendingRestoreRequest, insertActionRequest, insertChange, listChanges, updateChange, type ChangePreview, type ChangeRequest, type ChangeRow, type PreviewedResourceChange } from "../db/changes.ts";
import type { RunQueue } from "../db/job-queue.ts";
import { isUniqueViolation, withTransaction } from "../db/pool.ts";
import { activeRun, changedSince, highestTargetPhase, insertRun, updateRun, type RunRow } from "../db/runs.ts";
import { findTenant, updateTenantStatus, type TenantRow } from "../db/tenants.ts";
import { admitRun, type AdmissionLimits } from "./admission.ts";
import { admitCapacity } from "./capacity.ts";
import { ApiError, notFound } from "./errors.ts";
import { canTransition } from "./tenant-status.ts";
import { checkDeleteConfirmation } from "./delete-confirmation.ts";
import { currentPlatformSettings } from "./platform-settings.ts";

export interface ChangeServiceDeps {
  pool: pg.Pool;
  queue: RunQueue;
  engine: Pick<TenantEngine, "kind">;
  /** MATIH_CHANGE_TTL_HOURS */
  changeTtlHours: number;
  /** MATIH_REQUIRE_SEPARATE_APPROVER */
  requireSeparateApprover: boolean;
  maxAttempts: number;
  /** Limits on pending runs (a change's preview and its update are runs); none when absent. */
  limits?: AdmissionLimits;
  /** Platform settings, for the fleet capacity check of an approval (domain/capacity.ts); none when absent. */
  settings?: PlatformSettings;
  /** Queues teardowns and rollbacks (the tenant service); needed for requestAction and approving such requests. */
  lifecycle?: LifecycleRuns;
  /** Restores of backups (the backup routes' TenantBackups); needed for requestRestore and approving restore requests. */
  restores?: RestoreActions;
  /** Every admin principal, to tell a requester who may approve (MATIH_ADMIN_TOKEN's `admin` and MATIH_ADMIN_TOKENS' names). */
  adminPrincipals?: readonly string[];
}

/** The tenant service's teardown and rollback, in the caller's transaction when `db` is given. */
export interface LifecycleRuns {
  teardown(idOrSlug: string, principal: string, options?: { db?: pg.PoolClient; note?: string; skipBackup?: boolean; confirm?: string | true }): Promise<{ tenant: TenantRow; run: RunRow }>;
  rollback(idOrSlug: string, targetPhase: number, principal: string, options?: { db?: pg.PoolClient; note?: string; skipBackup?: boolean }): Promise<{ tenant: TenantRow; run: RunRow }>;
}

/** Restores into a tenant's current database, in the caller's transaction holding the tenant's row lock. */
export interface RestoreActions {
  /** The backup if it may be restored into `tenant` now; throws the refusal (404, 409) otherwise. */
  restorable(db: pg.PoolClient, tenant: TenantRow, backupId: string): Promise<BackupRow>;
  /** Backs up what it replaces (unless skipBackup), restores, audits; throws 502 with the data as it was when it fails. */
  restoreLocked(db: pg.PoolClient, tenant: TenantRow, backup: BackupRow, principal: string, options: { skipBackup?: boolean; note?: string }): Promise<{ backup: BackupRow; safetyBackup: BackupRow | null }>;
}

/** What approving a change did: a run queued (update, teardown, rollback), or a restore performed (no run). */
export interface ApproveOutcome {
  change: ChangeRow;
  tenant: TenantRow;
  run: RunRow | null;
  restore?: { backup: BackupRow; safetyBackup: BackupRow | null };
}

/** A teardown, or a rollback to the end of `targetPhase`. */
export type LifecycleAction = ({ kind: "teardown"; confirm?: string } | { kind: "rollback"; targetPhase: number }) & { skipBackup?: boolean };

/** What asking for a teardown or rollback came to: its run queued, or a request awaiting another admin. */
export type ActionOutcome =
  | { queued: { tenant: TenantRow; run: RunRow } }
  | { pending: { change: ChangeRow; tenant: TenantRow; approvers: string[] } };

/**
 * Resource types whose deletion or replacement loses data or breaks access
 * that cannot simply be recreated: the tenant's schema, role and databases,
 * a dedicated server, the DNS zone (its name servers are delegated), and
 * Secrets holding credentials (applications hold the old values).
 */
const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  "postgresql:index/schema:Schema",
  "postgresql:index/role:Role",
  "postgresql:index/database:Database",
  "azure-native:dbforpostgresql:Server",
  "azure-native:dbforpostgresql:Database",
  "azure-native:dns:Zone",
]);

function isCredentialsSecret(change: ResourceChange): boolean {
  return change.type === "kubernetes:core/v1:Secret" && /credentials/.test(change.urn.slice(change.urn.lastIndexOf("::") + 2));
}

/**
 * The phases whose components hold STATEFUL_TYPES: the database phase (schema,
 * role, databases, dedicated server, credentials Secret) and the DNS zone's.
 * A rollback that removes one of them loses data or delegation.
 */
export const STATEFUL_PHASES: readonly number[] = PHASES.filter((p) => p.name === "SETUP_DATABASE" || p.name === "CREATE_DNS_ZONE").map((p) => p.number);

/** The stateful phases a rollback to the end of `targetPhase` would delete, of those the tenant may have (up to `highestPhase`). */
export function statefulPhasesRemoved(targetPhase: number, highestPhase: number): number[] {
  return STATEFUL_PHASES.filter((n) => n > targetPhase && n <= highestPhase);
}

export function isDestructive(change: Pick<ResourceChange, "op" | "type" | "urn">): boolean {
  if (change.op !== "delete" && change.op !== "replace") return false;
  return STATEFUL_TYPES.has(change.type) || isCredentialsSecret(change as ResourceChange);
}

/** The review form of a preview: changes only, in phase order, each with its property diffs. */
export function reviewOf(changes: readonly ResourceChange[], changeSummary: ChangePreview["changeSummary"], tierChange?: TierChangePreview): ChangePreview {
  const changed = changes.filter((c) => c.op !== "same" && c.op !== "read");
  const order = (c: ResourceChange) => c.phase?.number ?? 0;
  const reviewed: PreviewedResourceChange[] = changed
    .map((c, i) => ({ c, i }))
    // Stable: phase order, then the order the engine runs them in.
    .sort((a, b) => order(a.c) - order(b.c) || a.i - b.i)
    .map(({ c }) => ({
      urn: c.urn,
      type: c.type,
      name: c.urn.slice(c.urn.lastIndexOf("::") + 2),
      phase: c.phase ? { number: c.phase.number, name: c.phase.name } : null,
      op: c.op,
      diffs: (c.diffs ?? c.changedPaths.map((path) => ({ path }))).map((d) => ({ ...d })),
    }));
  const destructiveResources = changed.filter(isDestructive).map((c) => ({ urn: c.urn, type: c.type, op: c.op }));
  return {
    changeSummary, destructive: destructiveResources.length > 0, destructiveResources, changes: reviewed,
    ...(tierChange ? { tierChange: { steps: [...tierChange.steps], move: tierChange.move ? { ...tierChange.move } : null, data: tierChange.data ? { ...tierChange.data } : null, ...(tierChange.note ? { note: tierChange.note } : {}) } } : {}),
  };
}

export interface ChangeBody {
  tier?: Tier;
  lastPhase?: number;
  reason?: string;
}

export class ChangeService {
  private readonly deps: ChangeServiceDeps;

  constructor(deps: ChangeServiceDeps) {
    this.deps = deps;
  }

  private async tenantOf(db: pg.PoolClient | pg.Pool, idOrSlug: string, forUpdate = false): Promise<TenantRow> {
    const tenant = await findTenant(db, idOrSlug, { forUpdate });
    if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
    return tenant;
  }

  /** Records the change and queues its preview run. */
  async request(idOrSlug: string, body: ChangeBody, principal: string): Promise<{ change: ChangeRow; run: RunRow; tenant: TenantRow }> {
    checkReason(body.reason);
    if (body.lastPhase !== undefined && (!Number.isInteger(body.lastPhase) || body.lastPhase < 1 || body.lastPhase > PHASE_COUNT)) {
      throw new ApiError(400, "invalid_request", `lastPhase must be a whole number from 1 to ${PHASE_COUNT}`);
    }
    const requested: ChangeRequest = {
      ...(body.tier !== undefined ? { tier: body.tier } : {}),
      ...(body.lastPhase !== undefined ? { lastPhase: body.lastPhase } : {}),
      ...(body.reason !== undefined && body.reason.trim() !== "" ? { reason: body.reason.trim() } : {}),
    };
    try {
      return await withTransaction(this.deps.pool, async (db) => {
        const tenant = await this.tenantOf(db, idOrSlug, true);
        if (tenant.status !== "ACTIVE") {
          const hint = tenant.status === "FAILED" ? "retry a FAILED tenant first (a failed update is retried with the same change)" : "wait until it is ACTIVE";
          throw new ApiError(409, "invalid_transition", `a ${tenant.status} tenant cannot be changed: ${hint}`);
        }
        const active = await activeRun(db, tenant.id);
        if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a ${active.kind} run in progress; wait for it to finish`);
        const change = await insertChange(db, {
          id: randomUUID(),
          tenantId: tenant.id,
          requested,
          targetTier: requested.tier ?? tenant.tier,
          targetPhase: requested.lastPhase ?? PHASE_COUNT,
          createdBy: principal,
          ttlHours: this.deps.changeTtlHours,
        });
        const what = describeRequest(requested, tenant.tier);
        await appendAudit(db, { tenantId: tenant.id, entity: "change", actor: principal, from: null, to: "PREVIEWING", message: `change ${change.id} requested: ${what}`, details: { changeId: change.id, requested } });
        if (this.deps.limits) await admitRun(db, principal, this.deps.limits);
        let run = await insertRun(db, { id: randomUUID(), tenantId: tenant.id, kind: "preview", maxAttempts: 1, engine: this.deps.engine.kind, targetPhase: change.targetPhase, requestedBy: principal, changeId: change.id });
        const jobId = await this.deps.queue.enqueue(db, { runId: run.id, tenantId: tenant.id });
        run = await updateRun(db, run.id, { jobId });
        await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "run", actor: principal, from: null, to: "QUEUED", message: `preview of change ${change.id} queued` });
        const updated = await updateChange(db, change.id, { previewRunId: run.id });
        return { change: updated, run, tenant };
      });
    } catch (error) {
      if (isUniqueViolation(error, "provisioning_runs_one_active")) throw new ApiError(409, "run_in_progress", `tenant "${idOrSlug}" already has a run in progress; wait for it to finish`);
      throw error;
    }
  }

  async list(idOrSlug: string, options: { limit: number; offset: number }): Promise<ChangeRow[]> {
    const tenant = await this.tenantOf(this.deps.pool, idOrSlug);
    return listChanges(this.deps.pool, tenant.id, options);
  }

  async get(idOrSlug: string, changeId: string): Promise<ChangeRow> {
    const tenant = await this.tenantOf(this.deps.pool, idOrSlug);
    const change = await findChange(this.deps.pool, tenant.id, changeId);
    if (!change) throw notFound(`change "${changeId}" of tenant "${idOrSlug}"`);
    return change;
  }

  /**
   * Approves a reviewed change and queues the update that applies its plan.
   * Checks, in order: the change is awaiting review, the approver may approve
   * it, it has not expired, no run is in flight, the stack has not changed
   * since the preview, and a destructive change is explicitly allowed.
   */
  async approve(idOrSlug: string, changeId: string, principal: string, options: { allowDestructive?: boolean } = {}): Promise<ApproveOutcome> {
    const outcome = await withTransaction(this.deps.pool, async (db) => {
      const tenant = await this.tenantOf(db, idOrSlug, true);
      const change = await findChange(db, tenant.id, changeId, { forUpdate: true });
      if (!change) throw notFound(`change "${changeId}" of tenant "${idOrSlug}"`);
      if (change.status !== "PENDING_REVIEW") throw notPending(change, "approved");
      if (this.deps.requireSeparateApprover && change.createdBy === principal) {
        throw new ApiError(403, "same_principal", `${principal} requested change ${change.id}; another admin must approve it (MATIH_REQUIRE_SEPARATE_APPROVER is on)`);
      }
      if (await changeExpired(db, change.id)) {
        await this.mark(db, tenant, change, "EXPIRED", principal, `change ${change.id} expired at ${new Date(change.expiresAt).toISOString()} before approval`);
        return { refused: new ApiError(409, "change_expired", `change ${change.id} expired at ${new Date(change.expiresAt).toISOString()}; request the change again for a fresh preview`) };
      }
      if (change.kind !== "update") return this.approveAction(db, tenant, change, principal);
      const active = await activeRun(db, tenant.id);
      if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} has a ${active.kind} run in progress; approve once it has finished`);
      const since = change.previewedAt ? await changedSince(db, tenant.id, new Date(change.previewedAt)) : undefined;
      if (since || tenant.status !== "ACTIVE") {
        const why = since ? `a ${since.kind} run started after the preview` : `the tenant is ${tenant.status}`;
        await this.mark(db, tenant, change, "STALE", principal, `change ${change.id} is stale: ${why}`);
        return { refused: new ApiError(409, "plan_stale", `the tenant changed after change ${change.id} was previewed (${why}); request the change again and review the new preview`) };
      }
      if (change.destructive && !options.allowDestructive) {
        const what = (change.preview?.destructiveResources ?? []).map((r) => `${r.op} ${r.urn.slice(r.urn.lastIndexOf("::") + 2)} (${r.type})`).join(", ");
        throw new ApiError(409, "destructive_change", `change ${change.id} deletes or replaces stateful resources: ${what}; approve with {"allowDestructive": true} once the data is taken care of`);
      }
      // Approval is where a change is accepted: a new pool, or a phase that takes an address, a zone or a certificate, must fit the fleet.
      // The limits of the current settings version (domain/platform-settings.ts): a new version takes effect without a restart.
      if (this.deps.settings) {
        // On the transaction's own connection: a second one from the pool per waiting approval can exhaust it.
        const { settings } = await currentPlatformSettings(db, this.deps.settings);
        await admitCapacity(db, { settings, engine: this.deps.engine.kind }, { tier: change.targetTier, lastPhase: change.targetPhase }, tenant.id);
      }
      const approved = await updateChange(db, change.id, { status: "APPROVED", decidedBy: principal, allowDestructive: options.allowDestructive ?? false });
      await appendAudit(db, {
        tenantId: tenant.id, entity: "change", actor: principal, from: "PENDING_REVIEW", to: "APPROVED",
        message: `change ${change.id} approved by ${principal}${change.destructive ? " (destructive changes allowed)" : ""}`,
        details: { changeId: change.id, requestedBy: change.createdBy, allowDestructive: options.allowDestructive ?? false },
      });
      const queued = await queueUpdateRun(db, this.deps, tenant, approved, principal);
      return { ok: { ...queued, change: approved } };
    });
    if ("refused" in outcome) throw outcome.refused;
    return outcome.ok;
  }

  /**
   * A teardown or rollback, as asked for by `principal`. With four eyes off it is
   * queued at once, as ever. With MATIH_REQUIRE_SEPARATE_APPROVER on, a teardown
   * of an ACTIVE or FAILED tenant, and a rollback that would delete a stateful
   * phase (STATEFUL_PHASES), are one person's irreversible acts: they become a
   * request (a change of that kind, PENDING_REVIEW) that another admin approves
   * with the change routes. A teardown asked again for a DEPROVISIONING tenant
   * (its approved teardown failed) and a rollback that keeps every stateful
   * phase are queued at once. Asking again while a like request waits answers
   * that request.
   */
  async requestAction(idOrSlug: string, action: LifecycleAction, principal: string): Promise<ActionOutcome> {
    const lifecycle = this.lifecycle();
    const skip = action.skipBackup ? { skipBackup: true } : {};
    const queue = (options: { db?: pg.PoolClient } = {}) => action.kind === "teardown"
      ? lifecycle.teardown(idOrSlug, principal, { ...options, ...skip, ...(action.confirm !== undefined ? { confirm: action.confirm } : {}) })
      : lifecycle.rollback(idOrSlug, action.targetPhase, principal, { ...options, ...skip });
    if (!this.deps.requireSeparateApprover) return { queued: await queue() };
    if (action.kind === "rollback" && (!Number.isInteger(action.targetPhase) || action.targetPhase < 1 || action.targetPhase >= PHASE_COUNT)) {
      // As the tenant service refuses it, before anything is asked of anyone.
      throw new ApiError(400, "invalid_request", `targetPhase must be a whole number from 1 to ${PHASE_COUNT - 1}; to remove everything, DELETE the tenant`);
    }
    return withTransaction(this.deps.pool, async (db) => {
      const tenant = await this.tenantOf(db, idOrSlug, true);
      const targetPhase = action.kind === "teardown" ? 0 : action.targetPhase;
      const removed = action.kind === "rollback" && tenant.status === "FAILED" ? statefulPhasesRemoved(targetPhase, await highestTargetPhase(db, tenant.id)) : [];
      const needsApproval = action.kind === "teardown" ? tenant.status === "ACTIVE" || tenant.status === "FAILED" : removed.length > 0;
      // Whatever is refused (wrong status, a run in flight, a limit) is refused as without four eyes.
      if (!needsApproval) return { queued: await queue({ db }) };
      // Asked of the requester, not the approver: the one who names the tenant to delete is the one asking.
      if (action.kind === "teardown") checkDeleteConfirmation(tenant, action.confirm);
      const active = await activeRun(db, tenant.id);
      if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a ${active.kind} run in progress; wait for it to finish`);
      const waiting = await findPendingActionRequest(db, tenant.id, action.kind, targetPhase);
      if (waiting) return { pending: { change: waiting, tenant, approvers: this.approversOf(waiting) } };
      const change = await insertActionRequest(db, {
        // skipBackup is part of what is asked for, and so of what the approver approves.
        id: randomUUID(), tenantId: tenant.id, kind: action.kind, requested: { ...(action.kind === "rollback" ? { lastPhase: targetPhase } : {}), ...skip },
        targetTier: tenant.tier, targetPhase, createdBy: principal, ttlHours: this.deps.changeTtlHours,
      });
      const what = action.kind === "teardown" ? `teardown of ${tenant.slug}` : `rollback of ${tenant.slug} to the end of phase ${targetPhase} (deletes stateful phase${removed.length > 1 ? "s" : ""} ${removed.join(" and ")})`;
      await appendAudit(db, {
        tenantId: tenant.id, entity: "change", actor: principal, from: null, to: "PENDING_REVIEW",
        message: `${what} requested by ${principal}; another admin must approve it (MATIH_REQUIRE_SEPARATE_APPROVER is on)`,
        details: { changeId: change.id, kind: action.kind, targetPhase },
      });
      return { pending: { change, tenant, approvers: this.approversOf(change) } };
    });
  }

  /** Who may approve `change`: every admin principal but its requester. */
  approversOf(change: Pick<ChangeRow, "createdBy">): string[] {
    return (this.deps.adminPrincipals ?? []).filter((name) => name !== change.createdBy);
  }

  /**
   * Asks for a restore of `backupId` into the tenant's current database: a
   * change of kind `restore` awaiting review (whether or not four eyes are
   * on), refused now for whatever its approval would refuse. Its `requested`
   * names the backup as the reviewer approves it. Asking again while a like
   * request (same backup, same skipBackup) waits answers that request.
   */
  async requestRestore(idOrSlug: string, body: { backupId: string; skipBackup?: boolean }, principal: string): Promise<{ change: ChangeRow; tenant: TenantRow; approvers: string[] }> {
    const restores = this.restores();
    const skipBackup = body.skipBackup === true;
    return withTransaction(this.deps.pool, async (db) => {
      const tenant = await this.tenantOf(db, idOrSlug, true);
      const backup = await restores.restorable(db, tenant, body.backupId);
      const waiting = await findPendingRestoreRequest(db, tenant.id, backup.id, skipBackup);
      if (waiting) return { change: waiting, tenant, approvers: this.approversOf(waiting) };
      const requested: ChangeRequest = {
        backupId: backup.id,
        backup: { id: backup.id, tenantId: backup.tenantId, schemaName: backup.schemaName, reason: backup.reason, sizeBytes: backup.sizeBytes, createdAt: new Date(backup.createdAt).toISOString() },
        replaces: `everything now in ${tenant.slug}'s database schema, ${skipBackup ? "without a backup of it first (skipBackup)" : "backed up first (reason before-restore)"}`,
        ...(skipBackup ? { skipBackup: true } : {}),
      };
      const change = await insertActionRequest(db, {
        // A restore keeps the tenant's tier and phases: its target is where the tenant is.
        id: randomUUID(), tenantId: tenant.id, kind: "restore", requested, targetTier: tenant.tier, targetPhase: await highestTargetPhase(db, tenant.id),
        createdBy: principal, ttlHours: this.deps.changeTtlHours,
      });
      await appendAudit(db, {
        tenantId: tenant.id, entity: "change", actor: principal, from: null, to: "PENDING_REVIEW",
        message: `restore of backup ${backup.id} (${backup.schemaName}, taken ${new Date(backup.createdAt).toISOString()}) into ${tenant.slug} requested by ${principal}${skipBackup ? " without a backup first (skipBackup)" : ""}; it awaits review`,
        details: { changeId: change.id, kind: "restore", backupId: backup.id, ...(skipBackup ? { skipBackup: true } : {}) },
      });
      return { change, tenant, approvers: this.approversOf(change) };
    });
  }

  private restores(): RestoreActions {
    if (!this.deps.restores) throw new Error("the change service was built without restores");
    return this.deps.restores;
  }

  private lifecycle(): LifecycleRuns {
    if (!this.deps.lifecycle) throw new Error("the change service was built without the tenant service's lifecycle runs");
    return this.deps.lifecycle;
  }

  /**
   * Approves a teardown or rollback request (its requester, expiry and pending
   * state already checked): queues its run in the same transaction, or refuses
   * as the tenant service would (a run in flight, a limit) and leaves it
   * pending. A request the tenant has moved on from (another run since, or a
   * status the action no longer applies to) becomes STALE: what was asked for
   * was about the tenant as it was.
   */
  private async approveAction(db: pg.PoolClient, tenant: TenantRow, change: ChangeRow, principal: string): Promise<{ ok: ApproveOutcome } | { refused: ApiError }> {
    const applies = change.kind === "teardown" || change.kind === "restore" ? ["ACTIVE", "FAILED"].includes(tenant.status) : tenant.status === "FAILED";
    const since = await changedSince(db, tenant.id, new Date(change.createdAt));
    if (since || !applies) {
      const why = since ? `a ${since.kind} run started after the request` : `the tenant is ${tenant.status}`;
      await this.mark(db, tenant, change, "STALE", principal, `${change.kind} request ${change.id} is stale: ${why}`);
      return { refused: new ApiError(409, "request_stale", `the tenant changed after the ${change.kind} request ${change.id} was made (${why}); ask for it again if it is still wanted`) };
    }
    if (change.kind === "restore") return this.approveRestore(db, tenant, change, principal);
    const lifecycle = this.lifecycle();
    const approved = await updateChange(db, change.id, { status: "APPROVED", decidedBy: principal });
    await appendAudit(db, {
      tenantId: tenant.id, entity: "change", actor: principal, from: "PENDING_REVIEW", to: "APPROVED",
      message: `${change.kind} request ${change.id} approved by ${principal}`,
      details: { changeId: change.id, requestedBy: change.createdBy, kind: change.kind },
    });
    const note = `requested by ${change.createdBy}, approved by ${principal}`;
    const skipBackup = change.requested.skipBackup === true;
    // The requester confirmed the deletion with the slug when asking.
    const queued = change.kind === "teardown"
      ? await lifecycle.teardown(tenant.id, principal, { db, note, skipBackup, confirm: true })
      : await lifecycle.rollback(tenant.id, change.targetPhase, principal, { db, note, skipBackup });
    const withRun = await updateChange(db, approved.id, { runId: queued.run.id });
    return { ok: { ...queued, change: withRun } };
  }

  /**
   * Performs an approved restore request in the approval's transaction (the
   * tenant's row stays locked, so no run starts under it): APPLIED with what
   * was restored, or FAILED with the error and the tenant's data as it was.
   * A backup no longer restorable (removed by retention since) fails it too;
   * a run in progress leaves it pending.
   */
  private async approveRestore(db: pg.PoolClient, tenant: TenantRow, change: ChangeRow, principal: string): Promise<{ ok: ApproveOutcome } | { refused: ApiError }> {
    const restores = this.restores();
    const fail = async (error: ApiError, from: "PENDING_REVIEW" | "APPROVED") => {
      await updateChange(db, change.id, { status: "FAILED", error: error.message, ...(from === "PENDING_REVIEW" ? { decidedBy: principal } : {}) });
      await appendAudit(db, { tenantId: tenant.id, entity: "change", actor: principal, from, to: "FAILED", message: `restore request ${change.id} failed: ${error.message}`, details: { changeId: change.id, code: error.code } });
      return { refused: error };
    };
    let backup: BackupRow;
    try {
      backup = await restores.restorable(db, tenant, change.requested.backupId ?? "");
    } catch (error) {
      if (error instanceof ApiError && error.code !== "run_in_progress") return fail(error, "PENDING_REVIEW");
      throw error;
    }
    await updateChange(db, change.id, { status: "APPROVED", decidedBy: principal });
    await appendAudit(db, {
      tenantId: tenant.id, entity: "change", actor: principal, from: "PENDING_REVIEW", to: "APPROVED",
      message: `restore request ${change.id} approved by ${principal}`,
      details: { changeId: change.id, requestedBy: change.createdBy, kind: change.kind },
    });
    const skipBackup = change.requested.skipBackup === true;
    let restored: { backup: BackupRow; safetyBackup: BackupRow | null };
    try {
      restored = await restores.restoreLocked(db, tenant, backup, principal, { skipBackup, note: `restore request ${change.id}, requested by ${change.createdBy}, approved by ${principal}` });
    } catch (error) {
      // The failure is recorded with the change; a safety backup already taken stays recorded too.
      if (error instanceof ApiError && error.statusCode === 502) return fail(error, "APPROVED");
      throw error;
    }
    const applied = await updateChange(db, change.id, { status: "APPLIED", applied: true });
    await appendAudit(db, {
      tenantId: tenant.id, entity: "change", actor: principal, from: "APPROVED", to: "APPLIED",
      message: `restore request ${change.id} applied: backup ${backup.id} restored${restored.safetyBackup ? `, what it replaced is backup ${restored.safetyBackup.id}` : ""}`,
      details: { changeId: change.id, backupId: backup.id, safetyBackupId: restored.safetyBackup?.id ?? null },
    });
    return { ok: { change: applied, tenant, run: null, restore: restored } };
  }

  async reject(idOrSlug: string, changeId: string, principal: string, reason?: string): Promise<ChangeRow> {
    checkReason(reason);
    return withTransaction(this.deps.pool, async (db) => {
      const tenant = await this.tenantOf(db, idOrSlug, true);
      const change = await findChange(db, tenant.id, changeId, { forUpdate: true });
      if (!change) throw notFound(`change "${changeId}" of tenant "${idOrSlug}"`);
      if (change.status !== "PENDING_REVIEW" && change.status !== "PREVIEW_FAILED") throw notPending(change, "rejected");
      const note = reason?.trim() ? `: ${reason.trim()}` : "";
      const rejected = await updateChange(db, change.id, { status: "REJECTED", decidedBy: principal, ...(note ? { rejectionReason: reason!.trim() } : {}) });
      await appendAudit(db, { tenantId: tenant.id, entity: "change", actor: principal, from: change.status, to: "REJECTED", message: `change ${change.id} rejected by ${principal}${note}`, details: { changeId: change.id } });
      return rejected;
    });
  }

  private async mark(db: pg.PoolClient, tenant: TenantRow, change: ChangeRow, to: "EXPIRED" | "STALE", actor: string, message: string): Promise<void> {
    await updateChange(db, change.id, { status: to });
    await appendAudit(db, { tenantId: tenant.id, entity: "change", actor, from: change.status, to, message, details: { changeId: change.id } });
  }
}

/**
 * A reason goes into the tenant's mail, the CloudEvent and the audit log, so it
 * follows the display name's rule: one line of printable, visible text (no
 * forged mail lines, terminal escapes or reordered text). Blank means none.
 */
function checkReason(reason: string | undefined): void {
  if (reason === undefined || reason.trim() === "") return;
  const problem = printableLineProblem(reason);
  if (problem) throw new ApiError(400, "invalid_request", "the request body is invalid", [{ field: "reason", message: problem }]);
}

function notPending(change: ChangeRow, verb: string): ApiError {
  const hint: Partial<Record<ChangeRow["status"], string>> = {
    PREVIEWING: "its preview is still running",
    APPROVED: "it was already approved",
    APPLYING: "it is being applied",
    APPLIED: "it was applied",
    REJECTED: "it was rejected",
    STALE: "the tenant changed since its preview; request it again",
    EXPIRED: "it expired; request it again",
    PREVIEW_FAILED: "its preview failed; request it again",
    FAILED: change.kind === "restore" ? "the restore failed; request it again" : "its update failed; retry the tenant to apply it again",
  };
  return new ApiError(409, "change_not_pending", `change ${change.id} is ${change.status} and cannot be ${verb}: ${hint[change.status] ?? "it is not awaiting review"}`);
}

export function describeRequest(requested: ChangeRequest, currentTier: Tier): string {
  const parts: string[] = [];
  if (requested.tier && requested.tier !== currentTier) parts.push(`tier ${currentTier} -> ${requested.tier}`);
  else if (requested.tier) parts.push(`tier stays ${currentTier}`);
  if (requested.lastPhase !== undefined) parts.push(`phases 1-${requested.lastPhase}`);
  if (parts.length === 0) parts.push("converge to the recorded spec");
  if (requested.reason) parts.push(`reason: ${requested.reason}`);
  return parts.join("; ");
}

/**
 * Moves the tenant to UPDATING and queues an `update` run for an approved (or
 * failed, when retried) change, in the caller's transaction.
 */
export async function queueUpdateRun(
  db: pg.PoolClient,
  deps: { queue: RunQueue; engine: { kind: EngineKind }; maxAttempts: number; limits?: AdmissionLimits },
  tenant: TenantRow,
  change: ChangeRow,
  principal: string,
): Promise<{ tenant: TenantRow; run: RunRow }> {
  if (!canTransition(tenant.status, "UPDATING")) throw new ApiError(409, "invalid_transition", `a ${tenant.status} tenant cannot be updated`);
  const updated = await updateTenantStatus(db, tenant.id, { status: "UPDATING" });
  await appendAudit(db, { tenantId: tenant.id, entity: "tenant", actor: principal, from: tenant.status, to: "UPDATING", message: `update requested: change ${change.id}`, details: { changeId: change.id } });
  if (deps.limits) await admitRun(db, principal, deps.limits);
  let run: RunRow;
  try {
    run = await insertRun(db, { id: randomUUID(), tenantId: tenant.id, kind: "update", maxAttempts: deps.maxAttempts, engine: deps.engine.kind, targetPhase: change.targetPhase, requestedBy: principal, changeId: change.id });
  } catch (error) {
    if (isUniqueViolation(error, "provisioning_runs_one_active")) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a run in progress; wait for it to finish`);
    throw error;
  }
  const jobId = await deps.queue.enqueue(db, { runId: run.id, tenantId: tenant.id });
  run = await updateRun(db, run.id, { jobId });
  await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "run", actor: principal, from: null, to: "QUEUED", message: `update queued: change ${change.id}` });
  return { tenant: updated, run };
}
