/**
 * What the API asks of drift detection: check one tenant now, start a fleet
 * run now, follow it, the fleet's drift at a glance, and one tenant's history.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { ApiError, engineRefusal } from "../domain/errors.ts";
import type { TenantService } from "../domain/tenant-service.ts";
import { knownSecrets, redactDriftedResources, type DriftCheckResult, type RenderEngine, type SimulatedDrift, type TenantEngine } from "../../automation/index.ts";
import { activeDriftRun, driftHistory, findDriftRun, insertDriftRun, latestDriftRun, setDriftRunJob, tenantDriftState, tenantDriftStates, type DriftCheckRow, type DriftRunRow, type DriftState } from "../db/drift.ts";
import type { DriftQueue } from "../db/drift-queue.ts";
import { withTransaction } from "../db/pool.ts";
import { findTenant } from "../db/tenants.ts";
import { notFound } from "../domain/errors.ts";
import { describeFailure, type DriftRecorder, type RecordOutcome } from "./check-recorder.ts";

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function driftRunJson(run: DriftRunRow) {
  return { ...run, createdAt: new Date(run.createdAt).toISOString(), startedAt: iso(run.startedAt), finishedAt: iso(run.finishedAt) };
}

function checkJson(check: DriftCheckRow) {
  return {
    id: check.id,
    driftRunId: check.runId,
    state: check.state,
    reason: check.reason,
    checkedAt: new Date(check.checkedAt).toISOString(),
    durationMs: check.durationMs,
    // Masked again as read: a check kept before secrets were masked by value may hold one in clear.
    resources: redactDriftedResources(check.resources, knownSecrets()),
  };
}

export class DriftService {
  private readonly pool: pg.Pool;
  private readonly queue: DriftQueue;
  private readonly engine: TenantEngine;
  private readonly tenants: TenantService;
  private readonly recorder: DriftRecorder;

  constructor(deps: { pool: pg.Pool; queue: DriftQueue; engine: TenantEngine; tenants: TenantService; recorder: DriftRecorder }) {
    this.pool = deps.pool;
    this.queue = deps.queue;
    this.engine = deps.engine;
    this.tenants = deps.tenants;
    this.recorder = deps.recorder;
  }

  /**
   * A one-off check of one tenant now (an inspection run, as a preview is).
   * An ACTIVE tenant's check is kept in its drift history exactly as a fleet
   * run's is (driftRunId null), with the same events, mails and live message;
   * it is not kept when the tenant is not ACTIVE, or a run started while it
   * ran, and `outcome` says why. A check the engine could not make is kept as
   * CHECK_FAILED, then answered with the engine's error, whose `details` say
   * whether it was kept.
   */
  async checkNow(idOrSlug: string, principal: string): Promise<{ result: DriftCheckResult; outcome: RecordOutcome }> {
    const inspected = await this.tenants.inspectDrift(idOrSlug, principal);
    const { tenant, startedAt } = inspected;
    const result = { ...inspected.result, drifted: redactDriftedResources(inspected.result.drifted, knownSecrets()) };
    const outcome: RecordOutcome = tenant.status === "ACTIVE"
      ? await this.recorder.record({ tenantId: tenant.id, driftRunId: null, checkStartedAt: startedAt, result })
      : { recorded: false, reason: `only an ACTIVE tenant's checks are kept in its drift history; this tenant is ${tenant.status}`, final: true };
    if (result.status !== "succeeded") {
      const details = outcome.recorded ? { recorded: true, checkId: outcome.check.id, state: outcome.check.state } : { recorded: false, notRecordedReason: outcome.reason };
      throw engineRefusal(result.error ?? { code: "drift_check_failed", message: describeFailure(result) }, details);
    }
    return { result, outcome };
  }

  /**
   * Render engine only: changes the tenant's simulated actual state (see
   * automation/render/simulated-drift.ts) so that the next check finds it.
   */
  async simulate(idOrSlug: string, change: SimulatedDrift): Promise<{ tenantId: string; slug: string; resourcesDiffering: number }> {
    if (this.engine.kind !== "render") {
      throw new ApiError(409, "not_render_engine", "only the render engine simulates drift; with the Pulumi engine, drift is whatever really changed in the cloud");
    }
    const tenant = await findTenant(this.pool, idOrSlug);
    if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
    if (tenant.status !== "ACTIVE") throw new ApiError(409, "invalid_transition", `tenant ${tenant.slug} is ${tenant.status}; drift is simulated on an ACTIVE tenant`);
    const record = await (this.engine as RenderEngine).simulateDrift(tenant.slug, change);
    const recorded = new Map(record.resources.map((r) => [r.urn, JSON.stringify(r.inputs)]));
    const actual = record.actual ?? record.resources;
    const differing = actual.filter((r) => recorded.get(r.urn) !== JSON.stringify(r.inputs)).length + record.resources.filter((r) => !actual.some((a) => a.urn === r.urn)).length;
    return { tenantId: tenant.id, slug: tenant.slug, resourcesDiffering: differing };
  }

  /**
   * Starts a fleet run now, with every ACTIVE tenant in it. One runs at a
   * time: while one is queued or running, its id is the answer.
   */
  async startRun(principal: string): Promise<{ id: string; started: boolean }> {
    return withTransaction(this.pool, async (db) => {
      const created = await insertDriftRun(db, { id: randomUUID(), trigger: "manual", requestedBy: principal });
      if (!created) {
        const active = await activeDriftRun(db);
        if (!active) throw new Error("a fleet drift run was in progress and is not any more; ask again");
        // Nobody works it (its process stopped): a new job resumes it where it was.
        if (!active.worked && active.status === "RUNNING") await this.queue.enqueue(db, active.id);
        return { id: active.id, started: false };
      }
      await setDriftRunJob(db, created.id, await this.queue.enqueue(db, created.id));
      return { id: created.id, started: true };
    });
  }

  async run(id: string) {
    const run = await findDriftRun(this.pool, id);
    if (!run) throw notFound(`fleet drift run ${id}`);
    return driftRunJson(run);
  }

  async summary(filter: { state?: DriftState }) {
    const [lastRun, lastSuccessfulRun, all] = await Promise.all([latestDriftRun(this.pool), latestDriftRun(this.pool, { succeeded: true }), tenantDriftStates(this.pool)]);
    const tenants = filter.state ? all.filter((t) => t.state === filter.state) : all;
    return {
      lastRun: lastRun ? driftRunJson(lastRun) : null,
      lastSuccessfulRun: lastSuccessfulRun ? driftRunJson(lastSuccessfulRun) : null,
      counts: {
        inSync: all.filter((t) => t.state === "IN_SYNC").length,
        drifted: all.filter((t) => t.state === "DRIFTED").length,
        checkFailed: all.filter((t) => t.state === "CHECK_FAILED").length,
        unchecked: all.filter((t) => t.state === null).length,
      },
      tenants: tenants.map((t) => ({ tenantId: t.tenantId, slug: t.slug, tier: t.tier, state: t.state, since: iso(t.stateSince), driftedSince: iso(t.driftedSince), lastCheckedAt: iso(t.lastCheckedAt) })),
    };
  }

  async history(idOrSlug: string, page: { limit: number; offset: number }) {
    const tenant = await findTenant(this.pool, idOrSlug);
    if (!tenant) throw notFound(`tenant "${idOrSlug}"`);
    const [state, { items, total }] = await Promise.all([tenantDriftState(this.pool, tenant.id), driftHistory(this.pool, tenant.id, page)]);
    return {
      tenantId: tenant.id,
      slug: tenant.slug,
      state: state?.state ?? null,
      since: iso(state?.stateSince ?? null),
      driftedSince: iso(state?.driftedSince ?? null),
      items: items.map(checkJson),
      total,
      ...page,
    };
  }
}
