/**
 * The one-query status read (server/db/status.ts) answers what the three
 * queries it replaced answered: findTenant, then latestRun, then phasesOf,
 * put together by buildStatusView. Compared on a real Postgres while a real
 * service (render engine, paced, with a fault plan) takes a tenant through
 * every state: provisioning with failed attempts, FAILED, a retry, ACTIVE, a
 * preview and a drift check (runs the status must pass over), an approved
 * change (UPDATING), a teardown, DELETED, and its slug taken by a new tenant.
 * Each comparison reads both answers in one REPEATABLE READ snapshot, so a run
 * writing in between cannot make them differ.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestRun, phasesOf } from "../../server/db/runs.ts";
import { statusRowsOf } from "../../server/db/status.ts";
import { findTenant } from "../../server/db/tenants.ts";
import { buildStatusView, type StatusView } from "../../server/domain/status-view.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();

/** The status read before it became one query. */
async function previousStatus(db: pg.ClientBase, idOrSlug: string): Promise<StatusView | undefined> {
  const tenant = await findTenant(db, idOrSlug);
  if (!tenant) return undefined;
  const run = await latestRun(db, tenant.id);
  return buildStatusView(tenant, run, run ? await phasesOf(db, run.id) : []);
}

async function oneQueryStatus(db: pg.ClientBase, idOrSlug: string): Promise<StatusView | undefined> {
  const rows = await statusRowsOf(db, idOrSlug);
  return rows && buildStatusView(rows.tenant, rows.run, rows.phases);
}

describe.skipIf(!postgres.available)("the provisioning status read in one query", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    // Paced (a full run takes about 3 s) so that reads land mid-run; phase 6 fails three times, so the first provision ends FAILED.
    service = await startService(db.url, { MATIH_RENDER_PACE: "0.004", MATIH_RENDER_FAULTS: JSON.stringify({ 6: { failTimes: 3 } }), MATIH_MAX_ATTEMPTS: "3", MATIH_WORKERS: "1" });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  /** Both answers for every key in one snapshot; returns them after checking they are equal. */
  async function compare(keys: string[]): Promise<(StatusView | undefined)[]> {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    try {
      const answers: (StatusView | undefined)[] = [];
      for (const key of keys) {
        const before = await previousStatus(client, key);
        const now = await oneQueryStatus(client, key);
        expect(now, `status of ${key}`).toEqual(before);
        answers.push(now);
      }
      return answers;
    } finally {
      await client.query("COMMIT");
    }
  }

  /**
   * The answer the route sends (kept or built, server/domain/status-answers.ts)
   * is the one the rows give: read between two fresh builds, it equals one of them.
   */
  async function sentMatchesRows(key: string) {
    const before = JSON.parse(JSON.stringify(await oneQueryStatus(client, key)));
    const sent = await service.app.inject({ method: "GET", url: `/api/v1/tenants/${key}/provisioning/status`, headers: auth() });
    const after = JSON.parse(JSON.stringify(await oneQueryStatus(client, key)));
    expect(sent.statusCode).toBe(200);
    expect(sent.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect([before, after]).toContainEqual(sent.json());
  }

  it("answers exactly as findTenant + latestRun + phasesOf did, for a tenant in every state and mid-run", async () => {
    const app = service.app;
    const seen = new Set<string>();
    let midRun = 0;
    let keys: string[] = ["statusread", "no-such-tenant", "00000000-0000-4000-8000-000000000000"];
    let sampling = true;
    let comparisons = 0;
    const sampler = (async () => {
      while (sampling) {
        for (const view of await compare(keys)) {
          comparisons += 1;
          if (!view) continue;
          seen.add(view.status);
          if (view.run?.status === "RUNNING" && view.phases.some((p) => p.status === "RUNNING") && view.phases.some((p) => p.status === "SUCCEEDED")) midRun += 1;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const created = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("statusread", "free") });
      expect(created.statusCode).toBe(202);
      const first = created.json().tenant.id as string;
      keys = [...keys, first];
      expect((await waitForStatus(app, first, settled)).status).toBe("FAILED");
      await sentMatchesRows(first);

      expect((await app.inject({ method: "POST", url: `/api/v1/tenants/${first}/provisioning/retry`, headers: auth() })).statusCode).toBe(202);
      expect((await waitForStatus(app, first, (s) => s.run?.kind === "retry" && settled(s))).status).toBe("ACTIVE");

      // Inspection runs are newer than the retry; the status keeps showing the retry.
      expect((await app.inject({ method: "POST", url: `/api/v1/tenants/${first}/preview`, headers: auth(), payload: {} })).statusCode).toBe(200);
      expect((await app.inject({ method: "POST", url: `/api/v1/tenants/${first}/drift-check`, headers: auth() })).statusCode).toBe(200);
      const [afterInspection] = await compare([first]);
      expect(afterInspection?.run?.kind).toBe("retry");
      await sentMatchesRows(first);

      const change = await app.inject({ method: "POST", url: `/api/v1/tenants/${first}/changes`, headers: auth(), payload: { tier: "professional" } });
      expect(change.statusCode, change.body).toBe(202);
      const changeId = change.json().id as string;
      for (let i = 0; i < 300; i++) {
        const c = (await app.inject({ method: "GET", url: `/api/v1/tenants/${first}/changes/${changeId}`, headers: auth() })).json();
        if (c.status !== "PREVIEWING") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const approved = await app.inject({ method: "POST", url: `/api/v1/tenants/${first}/changes/${changeId}/approve`, headers: auth(), payload: {} });
      expect(approved.statusCode, approved.body).toBe(202);
      expect((await waitForStatus(app, first, (s) => s.run?.kind === "update" && settled(s))).status).toBe("ACTIVE");

      expect((await app.inject({ method: "DELETE", url: `/api/v1/tenants/${first}?confirm=statusread`, headers: auth() })).statusCode).toBe(202);
      expect((await waitForStatus(app, first, (s) => s.run?.kind === "teardown" && settled(s))).status).toBe("DELETED");
      await sentMatchesRows("statusread");

      // The slug is free again: by slug the new tenant answers, by id the deleted one still does.
      const again = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("statusread", "free") });
      expect(again.statusCode).toBe(202);
      const second = again.json().tenant.id as string;
      keys = [...keys, second];
      await waitForStatus(app, second, settled);
      const [bySlug, , , byFirstId, bySecondId] = await compare(keys);
      expect(bySlug?.tenantId).toBe(second);
      expect(byFirstId?.status).toBe("DELETED");
      expect(bySecondId?.tenantId).toBe(second);
      // The slug's answer was kept for the first tenant: now it is the second's.
      await sentMatchesRows("statusread");
      await sentMatchesRows(first);
    } finally {
      sampling = false;
      await sampler;
    }
    // What the comparisons covered: every state a tenant passes through, and reads in the middle of runs.
    expect([...seen].sort()).toEqual(["ACTIVE", "DELETED", "DEPROVISIONING", "FAILED", "PROVISIONING", "UPDATING"]);
    expect(midRun).toBeGreaterThan(0);
    expect(comparisons).toBeGreaterThan(50);
  });
});
