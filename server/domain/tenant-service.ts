/**
 * What the API asks of the service: create, read, retry, roll back, tear
 * down, preview and drift-check tenants. State changes happen in one
 * transaction with their audit rows and, for runs, with the queued job.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { knownSecrets, redactResourceChanges, type DriftCheckResult, type PreviewResult, type TenantEngine } from "../../automation/index.ts";
import { PHASE_COUNT } from "../../model/phases.ts";
import { placementProblems } from "../../model/placement.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { tenantRequestProblems, tenantSpecFor, ValidationError, type TenantRequest, type ValidationProblem } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import { appendAudit, listAudit, type AuditRow } from "../db/audit.ts";
import { claimIdempotencyKey, requestHash, saveIdempotentResponse } from "../db/idempotency.ts";
import { isUniqueViolation, withTransaction } from "../db/pool.ts";
import { activeRun, highestTargetPhase, insertRun, latestRun, phasesOf, pruneInspectionRuns, updateRun, type RunKind, type RunRow } from "../db/runs.ts";
import { statusRowsOf } from "../db/status.ts";
import { currentPlatformSettings } from "./platform-settings.ts";
import { findBackup, insertRestoreRequest, type BackupRow } from "../db/backups.ts";
import { tierProfile } from "../../model/tiers.ts";
import { findTenant, insertTenant, UUID, listTenants, tenantSpecOf, updateTenantStatus, type TenantRow, type TenantStatus } from "../db/tenants.ts";
import { previousWorkerWait, type RunQueue } from "../db/job-queue.ts";
import type { ProgressBus } from "../live/progress-bus.ts";
import { findChange, updateChange } from "../db/changes.ts";
import { admitRun, admitTenant, NO_LIMITS, type AdmissionLimits } from "./admission.ts";
import { admitCapacity } from "./capacity.ts";
import { queueUpdateRun } from "./change-service.ts";
import { ApiError, engineRefusal, notFound } from "./errors.ts";
import { StatusAnswers } from "./status-answers.ts";
import { buildStatusView, withPreviousWorkerWait, type StatusView } from "./status-view.ts";
import { canTransition, withArticle } from "./tenant-status.ts";
import { checkDeleteConfirmation } from "./delete-confirmation.ts";

/**
 * A tenant request as the API takes it: the tenant, and optionally the last
 * phase to provision (default all ten; a later change with a higher lastPhase
 * adds the rest), e.g. where no Azure is reachable for phases 7-10.
 */
export type CreateTenantInput = TenantRequest & { readonly lastPhase?: number; readonly restoreFrom?: string };

/** A run as a "queued" answer shows it. */
export interface QueuedRun {
  id: string;
  kind: string;
  status: string;
  targetPhase: number;
}

/** How a teardown or rollback is queued: in the caller's transaction, with a note for the audit row (who approved it). */
export interface LifecycleOptions {
  db?: pg.PoolClient;
  note?: string;
  /** {"skipBackup": true}: go on without the backup a teardown or a rollback below phase 2 takes first; recorded in the audit log. */
  skipBackup?: boolean;
  /**
   * A teardown's confirmation: the tenant's slug, required to delete an ACTIVE
   * tenant (a live tenant is deleted by typing its name, not by a stray call).
   * `true` when it was confirmed already (an approved four-eyes request).
   */
  confirm?: string | true;
}

export interface TenantServiceDeps {
  pool: pg.Pool;
  queue: RunQueue;
  engine: TenantEngine;
  bus: ProgressBus;
  settings: PlatformSettings;
  maxAttempts: number;
  /** Limits on live tenants and pending runs; none when absent. */
  limits?: AdmissionLimits;
  log?: { error(obj: object, msg: string): void };
}

export class TenantService {
  private readonly deps: TenantServiceDeps;
  /** Status answers kept while their rows stand (status-answers.ts). */
  readonly statusAnswers: StatusAnswers;

  constructor(deps: TenantServiceDeps) {
    this.deps = deps;
    this.statusAnswers = new StatusAnswers(deps.pool);
  }

  private get limits(): AdmissionLimits {
    return this.deps.limits ?? NO_LIMITS;
  }

  /** The platform settings' current version, read per operation as a run reads it (server/domain/platform-settings.ts). */
  private async currentSettings(): Promise<PlatformSettings> {
    return (await currentPlatformSettings(this.deps.pool, this.deps.settings)).settings;
  }

  /**
   * The API boundary's check of a tenant request: every problem at once, in
   * readable words (thrown as a ValidationError, answered with 400).
   */
  checkRequest(body: unknown, settings: PlatformSettings = this.deps.settings): CreateTenantInput {
    const { lastPhase, restoreFrom, ...fields } = (typeof body === "object" && body !== null && !Array.isArray(body) ? body : { body }) as Record<string, unknown>;
    const problems: ValidationProblem[] = Array.isArray(body) || typeof body !== "object" || body === null
      ? tenantRequestProblems(body, { baseDomain: settings.baseDomain })
      : tenantRequestProblems(fields, { baseDomain: settings.baseDomain });
    // Region × tier × settings (an enterprise server needs a subnet in its region): a 400 here, not a failed run later.
    if (problems.length === 0) problems.push(...placementProblems({ tier: fields.tier as Tier, region: fields.region as string }, settings));
    if (lastPhase !== undefined && (!Number.isInteger(lastPhase) || (lastPhase as number) < 1 || (lastPhase as number) > PHASE_COUNT)) {
      problems.push({ field: "lastPhase", message: `must be a whole number from 1 to ${PHASE_COUNT}, got ${JSON.stringify(lastPhase)}` });
    }
    if (restoreFrom !== undefined && (typeof restoreFrom !== "string" || !UUID.test(restoreFrom))) {
      problems.push({ field: "restoreFrom", message: `must be the id of a backup (a UUID), got ${JSON.stringify(restoreFrom)}` });
    }
    if (problems.length > 0) throw new ValidationError(problems, "tenant request");
    return {
      slug: fields.slug as string, displayName: (fields.displayName as string).trim(), tier: fields.tier as Tier, region: fields.region as string, adminEmail: fields.adminEmail as string,
      ...(lastPhase !== undefined ? { lastPhase: lastPhase as number } : {}),
      ...(restoreFrom !== undefined ? { restoreFrom: restoreFrom as string } : {}),
    };
  }

  /**
   * `checkRequest` against the platform settings' current version (one indexed
   * read), as the API checks a request: a version that changes the base domain
   * or the regions' subnets applies to the next request in every process.
   */
  async checkRequestNow(body: unknown): Promise<CreateTenantInput> {
    return this.checkRequest(body, await this.currentSettings());
  }

  /** Records a checked request (see `checkRequest`) as a tenant, stored as requested, and queues its provisioning. */
  /** `idempotency.tokenId` scopes the key to the caller's token: two callers never share a key. */
  async create(input: CreateTenantInput, principal: string, idempotency?: { key: string; tokenId: string }): Promise<{ tenant: TenantRow; run: QueuedRun; replayed: boolean }> {
    const spec = tenantSpecFor(input, { id: randomUUID(), requestedBy: principal, requestedAt: new Date() });
    const id = spec.id;
    try {
      return await withTransaction(this.deps.pool, async (db) => {
        if (idempotency) {
          const stored = await claimIdempotencyKey(db, idempotency.tokenId, idempotency.key, requestHash(input));
          if (stored) {
            if (stored.requestHash !== requestHash(input)) {
              throw new ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request; use a new key for a new request");
            }
            return { ...(await this.replayed(db, stored.response)), replayed: true };
          }
        }
        // After the replay: answering a request again creates nothing, so no limit refuses it.
        // Capacity first: it takes the service-wide lock, which admitTenant takes before the principal's.
        // The limits of the current settings version, as a run would read them: a new version takes effect without a restart.
        // Read on the transaction's own connection: a second one from the pool per waiting request can exhaust it.
        await admitCapacity(db, { settings: (await currentPlatformSettings(db, this.deps.settings)).settings, engine: this.deps.engine.kind }, { tier: input.tier, lastPhase: input.lastPhase ?? PHASE_COUNT });
        await admitTenant(db, principal, this.limits);
        const source = input.restoreFrom ? await this.restorableBackup(db, input) : undefined;
        const tenant = await insertTenant(db, spec);
        await appendAudit(db, { tenantId: id, entity: "tenant", actor: principal, from: null, to: "PROVISIONING", message: `tenant ${spec.slug} requested (${spec.tier}, ${spec.region})${source ? `, to be restored from backup ${source.id} of ${source.schemaName}` : ""}` });
        if (source) await insertRestoreRequest(db, id, source.id, principal);
        const run = await this.startRun(db, tenant, "provision", input.lastPhase ?? PHASE_COUNT, principal);
        const queued = { id: run.id, kind: run.kind, status: run.status, targetPhase: run.targetPhase };
        if (idempotency) await saveIdempotentResponse(db, idempotency.tokenId, idempotency.key, 202, { tenant, run: queued });
        return { tenant, run: queued, replayed: false };
      });
    } catch (error) {
      if (isUniqueViolation(error, "tenants_live_slug")) throw new ApiError(409, "slug_taken", `the slug "${input.slug}" belongs to another tenant; choose another`);
      throw error;
    }
  }

  /**
   * The backup a new tenant is restored from: a deleted tenant's, still kept,
   * into a tenant whose provisioning will create a schema to restore into
   * (a shared-server tier, up to phase 2 at least).
   */
  private async restorableBackup(db: pg.PoolClient, input: CreateTenantInput): Promise<BackupRow> {
    const backup = await findBackup(db, input.restoreFrom!);
    if (!backup) throw new ApiError(400, "invalid_request", `restoreFrom: there is no backup ${input.restoreFrom}`);
    if (backup.removedAt) throw new ApiError(409, "backup_removed", `backup ${backup.id} was removed on ${new Date(backup.removedAt).toISOString()} (retention); choose a newer one`);
    const owner = await findTenant(db, backup.tenantId);
    if (owner?.status !== "DELETED") {
      throw new ApiError(409, "invalid_transition", `backup ${backup.id} belongs to ${owner?.slug ?? "a tenant"}, which is ${owner?.status ?? "gone"}; a new tenant is restored from a deleted tenant's backup (restore a live tenant with POST /api/v1/tenants/${owner?.slug}/restore)`);
    }
    if (tierProfile(input.tier).database.strategy !== "schema-per-tenant") {
      throw new ApiError(409, "invalid_request", `restoreFrom needs a free or professional tenant (a schema on the shared server); a ${input.tier} tenant's dedicated server is restored with Azure's point-in-time restore`);
    }
    if ((input.lastPhase ?? PHASE_COUNT) < 2) throw new ApiError(400, "invalid_request", "restoreFrom needs lastPhase 2 or more: the backup is restored into the schema phase 2 creates");
    return backup;
  }

  /** The first answer again. Answers stored before `{tenant, run}` was the shape hold the tenant alone; its first run completes them. */
  private async replayed(db: pg.PoolClient, response: unknown): Promise<{ tenant: TenantRow; run: QueuedRun }> {
    const stored = response as { tenant?: TenantRow; run?: QueuedRun } & Partial<TenantRow>;
    if (stored.tenant && stored.run) return { tenant: stored.tenant, run: stored.run };
    const tenant = stored as TenantRow;
    const { rows } = await db.query(`SELECT id, kind, 'QUEUED' AS status, target_phase AS "targetPhase" FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'provision' ORDER BY created_at LIMIT 1`, [tenant.id]);
    return { tenant, run: rows[0] };
  }

  /** Inserts a run and its job in the caller's transaction. */
  private async startRun(db: pg.PoolClient, tenant: TenantRow, kind: RunKind, targetPhase: number, principal: string, carryOver?: RunRow, skipBackup = false): Promise<RunRow> {
    let run: RunRow;
    try {
      run = await insertRun(db, { id: randomUUID(), tenantId: tenant.id, kind, maxAttempts: this.deps.maxAttempts, engine: this.deps.engine.kind, targetPhase, requestedBy: principal, skipBackup });
    } catch (error) {
      if (isUniqueViolation(error, "provisioning_runs_one_active")) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a run in progress; wait for it to finish`);
      throw error;
    }
    if (carryOver) {
      // A retry continues where the last run stopped: its finished phases stay finished.
      for (const phase of await phasesOf(db, carryOver.id)) {
        if (phase.status === "SUCCEEDED" && phase.number <= targetPhase) {
          await db.query(
            `UPDATE run_phases SET status = 'SUCCEEDED', attempts = $3, started_at = $4, completed_at = $5, resources_done = $6 WHERE run_id = $1 AND number = $2`,
            [run.id, phase.number, phase.attempts, phase.startedAt, phase.completedAt, phase.resourcesDone],
          );
        }
      }
    }
    const jobId = await this.deps.queue.enqueue(db, { runId: run.id, tenantId: tenant.id });
    run = await updateRun(db, run.id, { jobId });
    await appendAudit(db, { tenantId: tenant.id, runId: run.id, entity: "run", actor: principal, from: null, to: "QUEUED", message: `${kind} queued${kind === "rollback" ? ` to the end of phase ${targetPhase}` : ""}` });
    return run;
  }

  async get(idOrSlug: string): Promise<TenantRow> {
    const tenant = await findTenant(this.deps.pool, idOrSlug);
    if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
    return tenant;
  }

  list(filter: { status?: string; tier?: string; limit: number; offset: number }) {
    return listTenants(this.deps.pool, filter);
  }

  /**
   * The status as the polling client receives it, `serialize`d: built in one
   * query (db/status.ts), and sent again as it is while its rows are
   * unchanged (status-answers.ts).
   */
  async statusText(idOrSlug: string, serialize: (view: StatusView) => string): Promise<string> {
    const text = await this.statusAnswers.read(idOrSlug, serialize);
    if (text === undefined) throw notFound(`tenant "${idOrSlug}"`);
    return text;
  }

  /** The status as a view, built in one query (db/status.ts). */
  async status(idOrSlug: string): Promise<StatusView> {
    const rows = await statusRowsOf(this.deps.pool, idOrSlug);
    if (!rows) throw notFound(`tenant "${idOrSlug}"`);
    const view = buildStatusView(rows.tenant, rows.run, rows.phases);
    const wait = rows.run?.status === "RUNNING" && rows.run.jobId ? await previousWorkerWait(this.deps.pool, rows.run.jobId) : null;
    return wait ? withPreviousWorkerWait(view, wait) : view;
  }

  /**
   * Moves the tenant and queues a run, refusing what the lifecycle does not allow.
   * In `options.db`'s transaction when given (an approved request is marked in the same one), else in its own.
   */
  private async transitionAndRun(idOrSlug: string, to: TenantStatus, kind: RunKind, targetPhase: number, principal: string, hint: string, options: { carryOver?: boolean; allowFrom?: TenantStatus[] } & LifecycleOptions = {}): Promise<{ tenant: TenantRow; run: RunRow }> {
    const transition = async (db: pg.PoolClient) => {
      const tenant = await findTenant(db, idOrSlug, { forUpdate: true });
      if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
      if (options.allowFrom && !options.allowFrom.includes(tenant.status)) {
        throw new ApiError(409, "invalid_transition", `${withArticle(tenant.status)} tenant cannot be ${kind === "rollback" ? "rolled back" : kind === "retry" ? "retried" : "torn down"}: ${hint}`);
      }
      if (!canTransition(tenant.status, to)) throw new ApiError(409, "invalid_transition", `${withArticle(tenant.status)} tenant cannot become ${to}: ${hint}`);
      if (kind === "teardown") checkDeleteConfirmation(tenant, options.confirm);
      const active = await activeRun(db, tenant.id);
      if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a ${active.kind} run in progress; wait for it to finish`);
      if (kind !== "teardown") await admitRun(db, principal, this.limits);
      const previous = options.carryOver ? await latestRun(db, tenant.id) : undefined;
      const updated = await updateTenantStatus(db, tenant.id, {
        status: to,
        ...(to === "PROVISIONING" ? { provisioningStartedAt: "now" as const, provisioningCompletedAt: null } : {}),
      });
      const skipped = options.skipBackup ? `; ${principal} asked to skip the backup (skipBackup)` : "";
      await appendAudit(db, { tenantId: tenant.id, entity: "tenant", actor: principal, from: tenant.status, to, message: `${kind} requested${options.note ? ` (${options.note})` : ""}${skipped}`, ...(options.skipBackup ? { details: { skipBackup: true } } : {}) });
      const run = await this.startRun(db, updated, kind, targetPhase, principal, previous, options.skipBackup ?? false);
      return { tenant: updated, run };
    };
    return options.db ? transition(options.db) : withTransaction(this.deps.pool, transition);
  }

  async retry(idOrSlug: string, principal: string): Promise<{ tenant: TenantRow; run: RunRow }> {
    // A tenant whose reviewed change failed is retried by applying that same change again.
    const retried = await withTransaction(this.deps.pool, async (db) => {
      const tenant = await findTenant(db, idOrSlug, { forUpdate: true });
      if (!tenant || tenant.status !== "FAILED") return null;
      const last = await latestRun(db, tenant.id);
      if (last?.kind !== "update" || !last.changeId) return null;
      const change = await findChange(db, tenant.id, last.changeId, { forUpdate: true });
      if (!change || change.status !== "FAILED") return null;
      const active = await activeRun(db, tenant.id);
      if (active) throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} already has a ${active.kind} run in progress; wait for it to finish`);
      await updateChange(db, change.id, { status: "APPROVED", error: null });
      await appendAudit(db, { tenantId: tenant.id, entity: "change", actor: principal, from: "FAILED", to: "APPROVED", message: `change ${change.id} retried by ${principal}`, details: { changeId: change.id } });
      return queueUpdateRun(db, { queue: this.deps.queue, engine: this.deps.engine, maxAttempts: this.deps.maxAttempts, limits: this.limits }, tenant, change, principal);
    });
    if (retried) return retried;
    return this.transitionAndRun(idOrSlug, "PROVISIONING", "retry", PHASE_COUNT, principal, "only a FAILED tenant can be retried", { carryOver: true, allowFrom: ["FAILED"] });
  }

  rollback(idOrSlug: string, targetPhase: number, principal: string, options: LifecycleOptions = {}) {
    if (!Number.isInteger(targetPhase) || targetPhase < 1 || targetPhase >= PHASE_COUNT) {
      throw new ApiError(400, "invalid_request", `targetPhase must be a whole number from 1 to ${PHASE_COUNT - 1}; to remove everything, DELETE the tenant`);
    }
    return this.transitionAndRun(idOrSlug, "PROVISIONING", "rollback", targetPhase, principal, "roll back applies to a FAILED tenant; tear an ACTIVE one down with DELETE", { carryOver: true, allowFrom: ["FAILED"], ...options });
  }

  teardown(idOrSlug: string, principal: string, options: LifecycleOptions = {}) {
    return this.transitionAndRun(idOrSlug, "DEPROVISIONING", "teardown", 0, principal, "only an ACTIVE or FAILED tenant can be torn down", { allowFrom: ["ACTIVE", "FAILED", "DEPROVISIONING"], ...options });
  }

  /**
   * Runs an engine operation now (it changes nothing) and records it as a run.
   * A result the engine could not produce (failed, cancelled) is returned
   * like any other; `inspect` turns it into the API's error.
   */
  private async runInspection<R extends PreviewResult | DriftCheckResult>(idOrSlug: string, kind: "preview" | "drift", principal: string, targetPhase: number, call: (tenant: TenantRow) => Promise<R>): Promise<{ tenant: TenantRow; startedAt: Date; result: R }> {
    const tenant = await this.get(idOrSlug);
    if (tenant.status === "DELETED") throw new ApiError(409, "invalid_transition", `tenant ${tenant.slug} is DELETED; there is nothing to ${kind === "preview" ? "preview" : "check"}`);
    // The engine would wait for the running operation's lock (minutes, for an enterprise tenant): answer now instead.
    const active = await activeRun(this.deps.pool, tenant.id);
    if (active) {
      throw new ApiError(409, "run_in_progress", `tenant ${tenant.slug} has a ${active.kind} run in progress; ${kind === "preview" ? "preview" : "check for drift"} again once it has finished (nothing was computed)`);
    }
    const run = await insertRun(this.deps.pool, { id: randomUUID(), tenantId: tenant.id, kind, maxAttempts: 1, engine: this.deps.engine.kind, targetPhase, requestedBy: principal, status: "RUNNING" });
    const started = await updateRun(this.deps.pool, run.id, { started: true, attempt: 1 });
    // Whatever happens, the run ends: an engine that throws leaves a FAILED run, never a RUNNING one.
    let result: R;
    try {
      result = await call(tenant);
    } catch (error) {
      await this.finishInspection(tenant, run, kind, principal, "FAILED", `the engine could not run the ${kind === "drift" ? "drift check" : kind}`, null)
        .catch((e: Error) => this.deps.log?.error({ err: e, runId: run.id }, "could not record the end of an inspection run"));
      throw error;
    }
    const status = result.status === "succeeded" ? "SUCCEEDED" : result.status === "cancelled" ? "CANCELLED" : "FAILED";
    await this.finishInspection(tenant, run, kind, principal, status, result.error?.message ?? null,
      { changeSummary: result.changeSummary, ...(kind === "drift" ? { drifted: (result as DriftCheckResult).drifted.length } : {}) });
    return { tenant, startedAt: started.startedAt!, result };
  }

  private async inspect<R extends PreviewResult | DriftCheckResult>(idOrSlug: string, kind: "preview" | "drift", principal: string, targetPhase: number, call: (tenant: TenantRow) => Promise<R>): Promise<R> {
    const { result } = await this.runInspection(idOrSlug, kind, principal, targetPhase, call);
    if (result.status !== "succeeded" && result.error) throw engineRefusal(result.error);
    return result;
  }

  /** Ends an inspection run with its audit row, and prunes the tenant's old inspection runs. */
  private async finishInspection(tenant: TenantRow, run: RunRow, kind: "preview" | "drift", principal: string, status: "SUCCEEDED" | "FAILED" | "CANCELLED", error: string | null, result: Record<string, unknown> | null): Promise<void> {
    await withTransaction(this.deps.pool, async (db) => {
      await updateRun(db, run.id, { status, error, ...(result ? { result } : {}), finished: true });
      // The run is named in details, not as a reference, so that old inspection runs can be pruned.
      await appendAudit(db, { tenantId: tenant.id, entity: "run", actor: principal, from: "RUNNING", to: status, message: `${kind} ${status.toLowerCase()}${error ? `: ${error}` : ""}`, details: { runId: run.id, kind } });
      await pruneInspectionRuns(db, tenant.id);
    });
  }

  async preview(idOrSlug: string, options: { lastPhase?: number; tier?: Tier }, principal: string): Promise<PreviewResult> {
    const result = await this.inspect(idOrSlug, "preview", principal, options.lastPhase ?? PHASE_COUNT, async (tenant) => {
      const spec = { ...tenantSpecOf(tenant), ...(options.tier ? { tier: options.tier } : {}) };
      return this.deps.engine.preview({ spec, settings: await this.currentSettings(), ...(options.lastPhase ? { lastPhase: options.lastPhase } : {}) });
    });
    // Answered to read tokens: masked whatever the engine did.
    return { ...result, changes: redactResourceChanges(result.changes, knownSecrets()) };
  }

  /**
   * A drift check now, as an inspection run. The result comes back whether
   * or not the engine could check, with the tenant as it was when the check
   * began and when it began (the database's clock), so that the caller can
   * keep it in the drift history (server/drift/drift-service.ts) and then
   * answer a failure with `engineRefusal`.
   */
  inspectDrift(idOrSlug: string, principal: string): Promise<{ tenant: TenantRow; startedAt: Date; result: DriftCheckResult }> {
    return this.runInspection(idOrSlug, "drift", principal, PHASE_COUNT, async (tenant) => this.deps.engine.driftCheck({ spec: tenantSpecOf(tenant), settings: this.deps.settings, lastPhase: await highestTargetPhase(this.deps.pool, tenant.id) }));
  }

  async audit(idOrSlug: string, options: { afterId?: number; limit: number }): Promise<AuditRow[]> {
    const tenant = await this.get(idOrSlug);
    return listAudit(this.deps.pool, tenant.id, options);
  }
}

