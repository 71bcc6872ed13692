/**
 * A rollout's runs are held to the service's pending-run limit (issue 23,
 * MATIH_MAX_PENDING_RUNS): with a limit of one run queued or running, a
 * rollout asked to work on three tenants at once starts each tenant's run
 * only when the one before it has finished, and still completes. Real
 * PostgreSQL, the render engine.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";
import { approveFleet, propose, sql, statuses, waitForRollout } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("a rollout under the pending-run limit", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_WORKERS: "1", MATIH_MAX_PENDING_RUNS: "1" });
    // One at a time: at the limit, a second request would be refused (429).
    for (const slug of ["alpha", "bravo", "charlie"]) {
      const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug) });
      expect(res.statusCode, res.body).toBe(202);
      expect((await waitForStatus(service.app, slug, settled)).status).toBe("ACTIVE");
    }
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("never has more runs queued or running than the limit, and completes", async () => {
    const { app } = service;
    const change = await propose(app, { settings: { images: { tags: { "ai-service": "2.0.0" } } }, reason: "ai-service 2.0.0" });
    expect(change.preview.groups.map((g: any) => g.tenants)).toEqual([3]);
    const approved = await approveFleet(app, change.id, { waves: { canary: 3, concurrency: 3 } });
    expect(approved.statusCode, approved.body).toBe(202);

    // Sampled while the rollout runs: the most runs pending at once.
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await sql(db.url, "SELECT count(*)::int AS n FROM provisioning_runs WHERE status IN ('QUEUED', 'RUNNING')");
        most = Math.max(most, row.n);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    let done: any;
    try {
      done = await waitForRollout(app, approved.json().id, (r) => r.status === "COMPLETED", 120_000);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(statuses(done)).toEqual({ alpha: "SUCCEEDED", bravo: "SUCCEEDED", charlie: "SUCCEEDED" });
    expect(most).toBe(1);
    // Each tenant got its preview and its update: six runs, one after another.
    const [runs] = await sql(db.url, "SELECT count(*)::int AS n FROM provisioning_runs WHERE change_id IS NOT NULL");
    expect(runs.n).toBe(6);
  }, 180_000);
});
