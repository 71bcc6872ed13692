/**
 * A one-off drift check of one tenant (POST /api/v1/tenants/{id}/drift-check)
 * is kept like a fleet run's check: the real service on a fresh PostgreSQL
 * database with the render engine, drift made with the render engine's
 * documented command, results read through the API, the outbox, /metrics and
 * the fleet WebSocket. Runs that start while a check runs are made
 * deterministic by wrapping the engine's driftCheck.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { insertRun, updateRun } from "../../../server/db/runs.ts";
import { probePostgres } from "../../support/postgres.ts";
import { driftEvents, driftEventTypes, driftHistory, provisionActive, simulateDrift } from "../../support/drift.ts";
import { auth, freshDatabase, READ_TOKEN, startService, type TestService } from "../../support/service.ts";

const postgres = await probePostgres();

const check = (app: FastifyInstance, tenant: string) => app.inject({ method: "POST", url: `/api/v1/tenants/${tenant}/drift-check`, headers: auth() });

/** A fleet-stream client that keeps every `drift` message it receives. */
async function fleetStream(base: string): Promise<{ socket: WebSocket; drift: any[] }> {
  const socket = new WebSocket(`${base}/ws/provisioning?access_token=${READ_TOKEN}`);
  const drift: any[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "subscribed") resolve();
      if (message.type === "drift") drift.push(message);
    });
    socket.on("error", reject);
  });
  return { socket, drift };
}

/** Makes the engine's drift checks do `during` (given the checked tenant's id) after the check itself and before the service keeps it. */
function duringChecks(app: FastifyInstance, during: (tenantId: string) => Promise<void>): () => void {
  const engine = app.engine as { driftCheck: (...args: any[]) => Promise<unknown> };
  const real = engine.driftCheck;
  engine.driftCheck = async (...args: any[]) => {
    const result = await real.apply(engine, args);
    await during(args[0].spec.id);
    return result;
  };
  return () => {
    engine.driftCheck = real;
  };
}

describe.skipIf(!postgres.available)("one-off drift checks", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;
  let base: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_OPS_EMAIL: "ops@matih.example", MATIH_DRIFT_RETRY_SECONDS: "1" });
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    base = `ws://127.0.0.1:${(service.app.server.address() as { port: number }).port}`;
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (const slug of ["single-a", "single-b"]) ids[slug] = await provisionActive(service.app, slug);
  }, 240_000);

  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  it("keeps a check of an ACTIVE tenant in its history with driftRunId null, tells drift once, then its resolution, and streams each new state", async () => {
    const a = ids["single-a"]!;
    const stream = await fleetStream(base);
    try {
      expect((await simulateDrift(service.app, "single-a", { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" })).json().resourcesDiffering).toBe(1);

      const first = await check(service.app, "single-a");
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ engine: "render", state: "DRIFTED", recorded: true, notRecordedReason: null });
      expect(first.json().drifted.map((r: any) => [r.drift, r.properties])).toEqual([["changed", ["spec.hard.pods"]]]);
      const kept = await driftHistory(service.app, a);
      expect(kept).toMatchObject({ state: "DRIFTED", total: 1 });
      expect(kept.items[0]).toMatchObject({ id: first.json().checkId, driftRunId: null, state: "DRIFTED", reason: null });
      expect(kept.items[0].resources[0].differences).toEqual([{ path: "spec.hard.pods", recorded: "20", actual: "99" }]);
      const detected = await driftEvents(service.app, a);
      expect(detected.map((e) => e.type)).toEqual(["tenant.drift_detected"]);
      expect(detected[0].data).toMatchObject({ tenantId: a, slug: "single-a", checkId: first.json().checkId, driftRunId: null, detectedAt: kept.items[0].checkedAt });

      // The fleet stream says what the tenant's state is now, and nothing of the values.
      await expect.poll(() => stream.drift.length).toBe(1);
      expect(stream.drift[0]).toEqual({
        type: "drift", tenantId: a, checkId: first.json().checkId, driftRunId: null, state: "DRIFTED", since: kept.items[0].checkedAt, lastCheckedAt: kept.items[0].checkedAt,
      });

      // Still drifted: kept, and nothing to tell.
      const second = await check(service.app, "single-a");
      expect(second.json()).toMatchObject({ state: "DRIFTED", recorded: true });
      const twice = await driftHistory(service.app, a);
      expect(twice.total).toBe(2);
      expect(twice.items[0]).toMatchObject({ id: second.json().checkId, driftRunId: null });
      expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected"]);
      await expect.poll(() => stream.drift.length).toBe(2);
      expect(stream.drift[1]).toMatchObject({ checkId: second.json().checkId, state: "DRIFTED", since: kept.items[0].checkedAt, lastCheckedAt: twice.items[0].checkedAt });

      // Put back by hand: the next check resolves it.
      expect((await simulateDrift(service.app, "single-a", { kind: "reset" })).statusCode).toBe(200);
      const third = await check(service.app, "single-a");
      expect(third.json()).toMatchObject({ state: "IN_SYNC", drifted: [], recorded: true });
      const events = await driftEvents(service.app, a);
      expect(events.map((e) => e.type)).toEqual(["tenant.drift_detected", "tenant.drift_resolved"]);
      expect(events[1].data).toMatchObject({ checkId: third.json().checkId, driftRunId: null, driftedSince: detected[0].data.detectedAt });
      const resolved = await driftHistory(service.app, a);
      expect(resolved).toMatchObject({ state: "IN_SYNC", driftedSince: null, total: 3 });
      await expect.poll(() => stream.drift.length).toBe(3);
      expect(stream.drift[2]).toMatchObject({ state: "IN_SYNC", since: resolved.items[0].checkedAt });

      const mails = (await client.query(`SELECT type, payload->>'to' AS "to" FROM outbox WHERE kind = 'email' AND tenant_id = $1 AND type LIKE 'drift-%' ORDER BY seq`, [a])).rows;
      expect(mails).toEqual([{ type: "drift-detected", to: "ops@matih.example" }, { type: "drift-resolved", to: "ops@matih.example" }]);
      const metrics = (await service.app.inject({ method: "GET", url: "/metrics", headers: auth() })).body;
      expect(metrics).toMatch(/^matih_drift_check_duration_seconds_count\{state="drifted"\} 2$/m);
      expect(metrics).toMatch(/^matih_drift_check_duration_seconds_count\{state="in_sync"\} 1$/m);
      const fleetRow = (await service.app.inject({ method: "GET", url: "/api/v1/fleet?search=single-a", headers: auth(READ_TOKEN) })).json().items[0];
      expect(fleetRow.drift).toEqual({ state: "IN_SYNC", since: resolved.items[0].checkedAt, lastCheckedAt: resolved.items[0].checkedAt });
    } finally {
      stream.socket.close();
    }
  }, 60_000);

  it("keeps a check the engine could not make as CHECK_FAILED, tells nothing, and answers the engine's error saying it was kept", async () => {
    const a = ids["single-a"]!;
    const record = (await client.query(`SELECT state FROM render_states WHERE slug = 'single-a'`)).rows[0].state;
    await client.query(`DELETE FROM render_states WHERE slug = 'single-a'`);
    try {
      const failed = await check(service.app, a);
      expect(failed.statusCode).toBe(404);
      expect(failed.json()).toMatchObject({ code: "stack_not_found", details: { recorded: true, state: "CHECK_FAILED" } });
      const newest = (await driftHistory(service.app, a)).items[0];
      expect(newest).toMatchObject({ id: failed.json().details.checkId, driftRunId: null, state: "CHECK_FAILED" });
      expect(newest.reason).toMatch(/^the tenant has no stack to compare with: /);
    } finally {
      await client.query(`INSERT INTO render_states (slug, state) VALUES ('single-a', $1)`, [JSON.stringify(record)]);
    }
    expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected", "tenant.drift_resolved"]);
    // The last conclusive state stands: a failed check says nothing about drift either way.
    expect((await driftHistory(service.app, a)).driftedSince).toBeNull();
    expect((await check(service.app, a)).json()).toMatchObject({ state: "IN_SYNC", recorded: true });
    expect((await driftEvents(service.app, a)).length).toBe(2);
  }, 60_000);

  it("answers but does not keep a check during which a run started, whether the run is still going or already over", async () => {
    const b = ids["single-b"]!;
    expect((await simulateDrift(service.app, b, { kind: "delete", resource: "namespace-service-account" })).statusCode).toBe(200);
    const stream = await fleetStream(base);
    const runs: string[] = [];
    // An update starts (here, as another process would) while the engine is still checking.
    let restore = duringChecks(service.app, async () => {
      runs.push((await insertRun(client, { id: randomUUID(), tenantId: b, kind: "update", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" })).id);
    });
    try {
      const during = await check(service.app, b);
      expect(during.statusCode).toBe(200);
      expect(during.json()).toMatchObject({ state: "DRIFTED", recorded: false, checkId: null, notRecordedReason: "an update run is in progress" });
      expect(during.json().drifted.map((r: any) => r.drift)).toEqual(["gone"]);
    } finally {
      restore();
    }
    await updateRun(client, runs[0]!, { status: "SUCCEEDED", started: true, finished: true });

    // A run that started and ended while the check ran: the tenant is ACTIVE and idle again, but the check may have read it half changed.
    restore = duringChecks(service.app, async () => {
      const run = await insertRun(client, { id: randomUUID(), tenantId: b, kind: "update", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
      await updateRun(client, run.id, { status: "SUCCEEDED", started: true, finished: true });
    });
    try {
      const over = await check(service.app, b);
      expect(over.json()).toMatchObject({ recorded: false, notRecordedReason: "an update run started while the check ran" });
    } finally {
      restore();
    }
    expect(await driftHistory(service.app, b)).toMatchObject({ state: null, total: 0, items: [] });
    expect(await driftEvents(service.app, b)).toEqual([]);

    // A tenant that is not ACTIVE is checked, and its check is not kept.
    await client.query(`UPDATE tenants SET status = 'FAILED' WHERE id = $1`, [b]);
    try {
      const failedTenant = await check(service.app, b);
      expect(failedTenant.statusCode).toBe(200);
      expect(failedTenant.json()).toMatchObject({ state: "DRIFTED", recorded: false, notRecordedReason: "only an ACTIVE tenant's checks are kept in its drift history; this tenant is FAILED" });
    } finally {
      await client.query(`UPDATE tenants SET status = 'ACTIVE' WHERE id = $1`, [b]);
    }
    expect((await driftHistory(service.app, b)).total).toBe(0);

    // Undisturbed, the same check is kept.
    const kept = await check(service.app, b);
    expect(kept.json()).toMatchObject({ state: "DRIFTED", recorded: true });
    expect(await driftEventTypes(service.app, b)).toEqual(["tenant.drift_detected"]);
    await expect.poll(() => stream.drift.length).toBe(1);
    stream.socket.close();
    expect(stream.drift[0]).toMatchObject({ tenantId: b, checkId: kept.json().checkId, state: "DRIFTED" });
  }, 60_000);

  it("has a fleet run skip a check during which a run started and ended, check the tenant again, and stream the kept check with its run's id", async () => {
    const b = ids["single-b"]!;
    expect((await simulateDrift(service.app, b, { kind: "reset" })).statusCode).toBe(200);
    const stream = await fleetStream(base);
    let disturbed = false;
    // single-b's first check is disturbed; its second, and single-a's, are not.
    const restore = duringChecks(service.app, async (tenantId) => {
      if (tenantId !== b || disturbed) return;
      disturbed = true;
      const run = await insertRun(client, { id: randomUUID(), tenantId: b, kind: "update", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
      await updateRun(client, run.id, { status: "SUCCEEDED", started: true, finished: true });
    });
    try {
      const started = (await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json();
      let run: any;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        run = (await service.app.inject({ method: "GET", url: `/api/v1/drift/runs/${started.id}`, headers: auth(READ_TOKEN) })).json();
        if (run.status === "SUCCEEDED" || run.status === "FAILED") break;
      }
      expect(run).toMatchObject({ status: "SUCCEEDED", total: 2, checked: 2, skipped: 0, drifted: 0 });
      expect(disturbed).toBe(true);
      const checks = (await client.query(`SELECT tenant_id AS "tenantId", count(*)::int AS n FROM drift_checks WHERE run_id = $1 GROUP BY tenant_id ORDER BY tenant_id`, [started.id])).rows;
      expect(checks).toEqual([ids["single-a"]!, b].sort().map((tenantId) => ({ tenantId, n: 1 })));
      // single-b's first check was skipped for the run that started meanwhile, and tried again.
      const skips = (await client.query(`SELECT tenant_id AS "tenantId", skips FROM drift_run_tenants WHERE run_id = $1 ORDER BY tenant_id`, [started.id])).rows;
      expect(Object.fromEntries(skips.map((r) => [r.tenantId, r.skips]))).toEqual({ [ids["single-a"]!]: 0, [b]: 1 });
      await expect.poll(() => stream.drift.filter((m) => m.driftRunId === started.id).length).toBe(2);
      expect(new Set(stream.drift.filter((m) => m.driftRunId === started.id).map((m) => m.tenantId))).toEqual(new Set([ids["single-a"], b]));
      expect((await driftHistory(service.app, b)).items[0]).toMatchObject({ driftRunId: started.id, state: "IN_SYNC" });
      expect(await driftEventTypes(service.app, b)).toEqual(["tenant.drift_detected", "tenant.drift_resolved"]);
    } finally {
      restore();
      stream.socket.close();
    }
  }, 90_000);

  it("refuses a read token, and a check while a run is in flight, before computing anything", async () => {
    const a = ids["single-a"]!;
    expect((await service.app.inject({ method: "POST", url: `/api/v1/tenants/${a}/drift-check`, headers: auth(READ_TOKEN) })).statusCode).toBe(403);
    const before = (await driftHistory(service.app, a)).total;
    const busy = await insertRun(client, { id: randomUUID(), tenantId: a, kind: "update", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
    try {
      const refused = await check(service.app, a);
      expect(refused.statusCode).toBe(409);
      expect(refused.json().code).toBe("run_in_progress");
    } finally {
      await updateRun(client, busy.id, { status: "SUCCEEDED", finished: true });
    }
    expect((await driftHistory(service.app, a)).total).toBe(before);
  });
});
