/**
 * What the API asks of drift detection: start a fleet run now, follow it,
 * the fleet's drift at a glance, and one tenant's history.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { activeDriftRun, driftHistory, findDriftRun, insertDriftRun, latestDriftRun, setDriftRunJob, tenantDriftState, tenantDriftStates, type DriftCheckRow, type DriftRunRow, type DriftState } from "../db/drift.ts";
import type { DriftQueue } from "../db/drift-queue.ts";
import { withTransaction } from "../db/pool.ts";
import { findTenant } from "../db/tenants.ts";
import { notFound } from "../domain/errors.ts";

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
    resources: check.resources,
  };
}

export class DriftService {
  private readonly pool: pg.Pool;
  private readonly queue: DriftQueue;

  constructor(deps: { pool: pg.Pool; queue: DriftQueue }) {
    this.pool = deps.pool;
    this.queue = deps.queue;
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
        if (active) return { id: active.id, started: false };
        throw new Error("a fleet drift run was in progress and is not any more; ask again");
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
