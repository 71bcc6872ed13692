/**
 * Fleet drift runs end to end: the real service on a fresh PostgreSQL
 * database with the render engine, tenants provisioned through the API, drift
 * made with the render engine's documented command, results read through the
 * API, the outbox and /metrics.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIFT_QUEUE } from "../../../server/db/drift-queue.ts";
import { insertRun, updateRun } from "../../../server/db/runs.ts";
import { probePostgres } from "../../support/postgres.ts";
import { driftEventTypes, driftHistory, provisionActive, simulateDrift } from "../../support/drift.ts";
import { auth, freshDatabase, READ_TOKEN, settled, startService, waitForStatus, type TestService } from "../../support/service.ts";

const postgres = await probePostgres();

async function waitForRun(app: FastifyInstance, id: string, done = (r: any) => r.status === "SUCCEEDED" || r.status === "FAILED", timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await app.inject({ method: "GET", url: `/api/v1/drift/runs/${id}`, headers: auth(READ_TOKEN) });
    last = res.json();
    if (res.statusCode === 200 && done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fleet drift run ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

async function fleetRun(app: FastifyInstance): Promise<any> {
  const started = await app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() });
  expect(started.statusCode).toBe(202);
  expect(started.headers.location).toBe(`/api/v1/drift/runs/${started.json().id}`);
  return waitForRun(app, started.json().id);
}

describe.skipIf(!postgres.available)("fleet drift runs", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_DRIFT_RETRY_SECONDS: "1", MATIH_OPS_EMAIL: "ops@matih.example", MATIH_DRIFT_CONCURRENCY: "2" });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (const slug of ["drift-a", "drift-b"]) ids[slug] = await provisionActive(service.app, slug);
  }, 240_000);

  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  it("reports an edited property and a deleted resource with their paths and both values, and the fleet summary and metrics follow", async () => {
    const record = (await client.query(`SELECT state FROM render_states WHERE slug = 'drift-a'`)).rows[0].state;
    const quota = record.resources.find((r: any) => r.type === "kubernetes:core/v1:ResourceQuota");
    const account = record.resources.find((r: any) => r.type === "kubernetes:core/v1:ServiceAccount");
    // The documented command: what someone editing the cluster by hand would do.
    const edit = await simulateDrift(service.app, "drift-a", { kind: "edit", resource: quota.name, path: "spec.hard.pods", value: "99" });
    expect(edit.json()).toEqual({ tenantId: ids["drift-a"], slug: "drift-a", resourcesDiffering: 1 });
    expect((await simulateDrift(service.app, ids["drift-a"]!, { kind: "delete", resource: account.urn })).json().resourcesDiffering).toBe(2);
    const unknown = await simulateDrift(service.app, "drift-a", { kind: "edit", resource: quota.urn, path: "spec.hard.nothing.deeper", value: 1 });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ code: "invalid_request", message: "the property path spec.hard.nothing.deeper does not exist: no spec.hard.nothing" });
    expect((await simulateDrift(service.app, "drift-a", { kind: "delete", resource: "x" }, READ_TOKEN)).statusCode).toBe(403);

    const run = await fleetRun(service.app);
    expect(run).toMatchObject({ trigger: "manual", requestedBy: "admin", status: "SUCCEEDED", total: 2, checked: 2, drifted: 1, failed: 0, skipped: 0 });
    expect(Date.parse(run.finishedAt)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));

    const drifted = await driftHistory(service.app, "drift-a");
    expect(drifted).toMatchObject({ tenantId: ids["drift-a"], state: "DRIFTED", total: 1 });
    expect(drifted.items[0]).toMatchObject({ driftRunId: run.id, state: "DRIFTED", reason: null });
    const byUrn = Object.fromEntries(drifted.items[0].resources.map((r: any) => [r.urn, r]));
    expect(Object.keys(byUrn).sort()).toEqual([quota.urn, account.urn].sort());
    expect(byUrn[quota.urn]).toMatchObject({ drift: "changed", properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: "20", actual: "99" }] });
    expect(byUrn[account.urn]).toMatchObject({ drift: "gone", phase: { number: 1, name: "CREATE_NAMESPACE" } });
    expect((await driftHistory(service.app, "drift-b")).items[0]).toMatchObject({ state: "IN_SYNC", resources: [] });

    const summary = (await service.app.inject({ method: "GET", url: "/api/v1/drift", headers: auth(READ_TOKEN) })).json();
    expect(summary.lastRun.id).toBe(run.id);
    expect(summary.lastSuccessfulRun.id).toBe(run.id);
    expect(summary.counts).toEqual({ inSync: 1, drifted: 1, checkFailed: 0, unchecked: 0 });
    expect(summary.tenants.map((t: any) => [t.slug, t.state])).toEqual([["drift-a", "DRIFTED"], ["drift-b", "IN_SYNC"]]);
    expect(summary.tenants[0].since).toBe(drifted.items[0].checkedAt);
    const onlyDrifted = (await service.app.inject({ method: "GET", url: "/api/v1/drift?state=DRIFTED", headers: auth(READ_TOKEN) })).json();
    expect(onlyDrifted.tenants.map((t: any) => t.slug)).toEqual(["drift-a"]);

    const metrics = (await service.app.inject({ method: "GET", url: "/metrics", headers: auth() })).body;
    expect(metrics).toMatch(/^matih_tenants_drifted 1$/m);
    expect(metrics).toMatch(/^matih_drift_check_duration_seconds_count\{state="drifted"\} 1$/m);
    expect(metrics).toMatch(/^matih_drift_check_duration_seconds_count\{state="in_sync"\} 1$/m);
    const last = Number(/^matih_drift_run_last_success_timestamp (\S+)$/m.exec(metrics)?.[1]);
    expect(last * 1000).toBeCloseTo(Date.parse(run.finishedAt), -3);
  }, 60_000);

  it("tells once per change of state: detected, nothing while it stays or a check fails, resolved, and mails the operators", async () => {
    // drift-a drifted in the test before; drift-b has been in sync, which is not news.
    const a = ids["drift-a"]!;
    expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected"]);
    expect(await driftEventTypes(service.app, ids["drift-b"]!)).toEqual([]);

    await fleetRun(service.app); // still drifted
    expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected"]);

    // A check that fails says nothing about drift either way: no event, and none when drift is seen again.
    const record = (await client.query(`SELECT state FROM render_states WHERE slug = 'drift-a'`)).rows[0].state;
    await client.query(`DELETE FROM render_states WHERE slug = 'drift-a'`);
    const failing = await fleetRun(service.app);
    expect(failing).toMatchObject({ checked: 2, failed: 1, drifted: 0 });
    const failed = (await driftHistory(service.app, "drift-a")).items[0];
    expect(failed.state).toBe("CHECK_FAILED");
    expect(failed.reason).toMatch(/^the tenant has no stack to compare with: /);
    await client.query(`INSERT INTO render_states (slug, state) VALUES ('drift-a', $1)`, [JSON.stringify(record)]);
    await fleetRun(service.app);
    expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected"]);

    expect((await simulateDrift(service.app, "drift-a", { kind: "reset" })).statusCode).toBe(200); // someone puts it back by hand
    await fleetRun(service.app);
    await fleetRun(service.app);
    expect(await driftEventTypes(service.app, a)).toEqual(["tenant.drift_detected", "tenant.drift_resolved"]);

    const events = (await service.app.inject({ method: "GET", url: `/api/v1/events?tenantId=${a}&limit=500`, headers: auth(READ_TOKEN) })).json().items.map((i: any) => i.event);
    const detected = events.find((e: any) => e.type === "tenant.drift_detected");
    expect(detected.data).toMatchObject({ tenantId: a, slug: "drift-a" });
    expect(detected.data.resources.map((r: any) => r.drift).sort()).toEqual(["changed", "gone"]);
    const resolved = events.find((e: any) => e.type === "tenant.drift_resolved");
    expect(resolved.data.driftedSince).toBe(detected.data.detectedAt);

    const mails = (await client.query(`SELECT type, payload->>'to' AS "to" FROM outbox WHERE kind = 'email' AND tenant_id = $1 AND type LIKE 'drift-%' ORDER BY seq`, [a])).rows;
    expect(mails).toEqual([{ type: "drift-detected", to: "ops@matih.example" }, { type: "drift-resolved", to: "ops@matih.example" }]);
    const summary = (await service.app.inject({ method: "GET", url: "/api/v1/drift", headers: auth(READ_TOKEN) })).json();
    expect(summary.counts).toEqual({ inSync: 2, drifted: 0, checkFailed: 0, unchecked: 0 });
  }, 90_000);

  it("skips a tenant with a run in flight and checks it later in the same fleet run", async () => {
    const b = ids["drift-b"]!;
    // A run of drift-b's own is under way (as an update queued through the API would be).
    const busy = await insertRun(client, { id: randomUUID(), tenantId: b, kind: "provision", maxAttempts: 1, engine: "render", targetPhase: 10, requestedBy: "admin", status: "RUNNING" });
    const checksBefore = (await driftHistory(service.app, "drift-b")).total;
    const started = (await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json();
    const waiting = await waitForRun(service.app, started.id, (r) => r.skipped === 1 && r.checked === 1);
    expect(waiting.status).toBe("RUNNING");
    // While the run is open, asking again answers with it rather than starting another.
    expect((await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json().id).toBe(started.id);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await driftHistory(service.app, "drift-b")).total).toBe(checksBefore);

    await updateRun(client, busy.id, { status: "SUCCEEDED", finished: true });
    const done = await waitForRun(service.app, started.id);
    expect(done).toMatchObject({ status: "SUCCEEDED", total: 2, checked: 2, skipped: 0 });
    const latest = (await driftHistory(service.app, "drift-b")).items[0];
    expect(latest).toMatchObject({ driftRunId: started.id, state: "IN_SYNC" });
    const perTenant = (await client.query(`SELECT tenant_id, count(*)::int AS n FROM drift_checks WHERE run_id = $1 GROUP BY tenant_id`, [started.id])).rows;
    expect(perTenant.map((r) => r.n)).toEqual([1, 1]);
  }, 60_000);

  it("resumes a fleet run whose process stopped, without checking again the tenants it had checked", async () => {
    const runId = randomUUID();
    const [a, b] = [ids["drift-a"]!, ids["drift-b"]!];
    // As a process killed mid-run leaves it: RUNNING, heartbeat long gone, drift-a checked, drift-b being checked.
    await client.query(`INSERT INTO drift_runs (id, trigger, requested_by, status, total, started_at, heartbeat_at) VALUES ($1, 'manual', 'admin', 'RUNNING', 2, now() - interval '10 minutes', now() - interval '5 minutes')`, [runId]);
    const checkId = randomUUID();
    await client.query(`INSERT INTO drift_checks (id, tenant_id, run_id, state, duration_ms) VALUES ($1, $2, $3, 'IN_SYNC', 5)`, [checkId, a, runId]);
    await client.query(`INSERT INTO drift_run_tenants (run_id, tenant_id, state, check_id) VALUES ($1, $2, 'CHECKED', $3), ($1, $4, 'CHECKING', NULL)`, [runId, a, checkId, b]);

    const asked = await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() });
    expect(asked.json().id).toBe(runId);
    const done = await waitForRun(service.app, runId);
    expect(done).toMatchObject({ status: "SUCCEEDED", total: 2, checked: 2, skipped: 0 });
    const perTenant = (await client.query(`SELECT tenant_id AS "tenantId", count(*)::int AS n FROM drift_checks WHERE run_id = $1 GROUP BY tenant_id`, [runId])).rows;
    expect(Object.fromEntries(perTenant.map((r) => [r.tenantId, r.n]))).toEqual({ [a]: 1, [b]: 1 });
  }, 60_000);

  it("keeps checks for the retention period, and always each tenant's latest", async () => {
    const before = (await driftHistory(service.app, "drift-a")).total;
    expect(before).toBeGreaterThan(3);
    await client.query(`UPDATE drift_checks SET checked_at = checked_at - interval '91 days'`);
    await client.query(`UPDATE drift_runs SET finished_at = finished_at - interval '91 days' WHERE status = 'SUCCEEDED'`);
    const run = await fleetRun(service.app);
    const after = await driftHistory(service.app, "drift-a");
    expect(after.total).toBe(1);
    expect(after.items[0].driftRunId).toBe(run.id);
    expect((await client.query(`SELECT count(*)::int AS n FROM drift_runs`)).rows[0].n).toBe(1);
  }, 60_000);

  it("answers 403 to a read token starting a run, 404 for an unknown run or tenant", async () => {
    expect((await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth(READ_TOKEN) })).statusCode).toBe(403);
    const unknown = await service.app.inject({ method: "GET", url: `/api/v1/drift/runs/${randomUUID()}`, headers: auth(READ_TOKEN) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe("not_found");
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants/nobody/drift", headers: auth(READ_TOKEN) })).statusCode).toBe(404);
  });
});

describe.skipIf(!postgres.available)("the drift schedule", () => {
  it("has a scheduled run check every active tenant once across two processes", async () => {
    const db = await freshDatabase();
    const env = { MATIH_DRIFT_SCHEDULE: "* * * * *", MATIH_SCHEDULE_CHECK_SECONDS: "1", MATIH_DRIFT_CONCURRENCY: "2" };
    let first: TestService | undefined;
    let second: TestService | undefined;
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The tenants come up with the schedule off, so that the first scheduled run finds all of them ACTIVE.
      first = await startService(db.url);
      const tenants = [];
      for (const slug of ["sched-a", "sched-b", "sched-c"]) tenants.push(await provisionActive(first.app, slug));
      await first.close();
      first = await startService(db.url, env);
      second = await startService(db.url, env);

      const deadline = Date.now() + 150_000;
      let run: any;
      while (Date.now() < deadline) {
        run = (await client.query(`SELECT id, trigger, status FROM drift_runs ORDER BY created_at LIMIT 1`)).rows[0];
        if (run?.status === "SUCCEEDED") break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(run).toMatchObject({ trigger: "schedule", status: "SUCCEEDED" });
      const progress = (await second.app.inject({ method: "GET", url: `/api/v1/drift/runs/${run.id}`, headers: auth(READ_TOKEN) })).json();
      expect(progress).toMatchObject({ total: 3, checked: 3, drifted: 0, failed: 0, skipped: 0, requestedBy: "schedule" });
      const checks = (await client.query(`SELECT tenant_id AS "tenantId", count(*)::int AS n FROM drift_checks WHERE run_id = $1 GROUP BY tenant_id ORDER BY tenant_id`, [run.id])).rows;
      expect(checks).toEqual([...tenants].sort().map((tenantId) => ({ tenantId, n: 1 })));
      // One schedule row, whichever process wrote it; one fleet run per occurrence.
      const schedules = await second.app.runQueue.boss.getSchedules(DRIFT_QUEUE);
      expect(schedules.map((s) => s.cron)).toEqual(["* * * * *"]);
    } finally {
      await client.end();
      await first?.close();
      await second?.close();
      await db.drop();
    }
  }, 300_000);

  it("removes the schedule when MATIH_DRIFT_SCHEDULE is off", async () => {
    const db = await freshDatabase();
    try {
      const on = await startService(db.url, { MATIH_DRIFT_SCHEDULE: "0 * * * *" });
      expect((await on.app.runQueue.boss.getSchedules(DRIFT_QUEUE)).map((s) => s.cron)).toEqual(["0 * * * *"]);
      await on.close();
      const off = await startService(db.url, { MATIH_DRIFT_SCHEDULE: "off" });
      expect(await off.app.runQueue.boss.getSchedules(DRIFT_QUEUE)).toEqual([]);
      await off.close();
    } finally {
      await db.drop();
    }
  }, 60_000);
});

describe.skipIf(!postgres.available)("a drift check and a run for the same tenant", () => {
  it("the check gives way at once when the run starts in its process, and is not recorded", async () => {
    const db = await freshDatabase();
    // Paced so that the check (a walk of every phase) is still going when the run starts.
    const service = await startService(db.url, { MATIH_RENDER_PACE: "0.01", MATIH_DRIFT_RETRY_SECONDS: "1" });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const id = await provisionActive(service.app, "give-way");
      const yielded: boolean[] = [];
      const runner = service.app.fleetRunner;
      const original = runner.yieldTenant.bind(runner);
      runner.yieldTenant = (tenantId: string) => {
        const answer = original(tenantId);
        yielded.push(answer);
        return answer;
      };
      const started = (await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json();
      const deadline = Date.now() + 20_000;
      while ((await client.query(`SELECT state FROM drift_run_tenants WHERE run_id = $1`, [started.id])).rows[0]?.state !== "CHECKING") {
        if (Date.now() > deadline) throw new Error("the check never started");
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${id}?confirm=give-way`, headers: auth() })).statusCode).toBe(202);
      expect((await waitForStatus(service.app, id, settled, 120_000)).status).toBe("DELETED");
      expect(yielded).toEqual([true]);

      const done = await waitForRun(service.app, started.id);
      expect(done).toMatchObject({ status: "SUCCEEDED", total: 1, checked: 0, skipped: 1 });
      expect((await client.query(`SELECT skip_reason AS reason FROM drift_run_tenants WHERE run_id = $1`, [started.id])).rows).toEqual([{ reason: "the tenant is no longer ACTIVE (DELETED)" }]);
      expect((await client.query(`SELECT count(*)::int AS n FROM drift_checks`)).rows[0].n).toBe(0);
    } finally {
      await client.end();
      await service.close();
      await db.drop();
    }
  }, 240_000);
});

describe.skipIf(!postgres.available)("drift put right through review", () => {
  it("converges a drifted tenant: an empty change previews the way back, its approval applies it, and the next fleet run finds it in sync", async () => {
    const db = await freshDatabase();
    const service = await startService(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const id = await provisionActive(service.app, "converge");
      const record = (await client.query(`SELECT state FROM render_states WHERE slug = 'converge'`)).rows[0].state;
      const quota = record.resources.find((r: any) => r.type === "kubernetes:core/v1:ResourceQuota");
      const account = record.resources.find((r: any) => r.type === "kubernetes:core/v1:ServiceAccount");
      expect((await simulateDrift(service.app, id, { kind: "edit", resource: quota.urn, path: "spec.hard.pods", value: "99" })).statusCode).toBe(200);
      expect((await simulateDrift(service.app, id, { kind: "delete", resource: account.urn })).statusCode).toBe(200);
      const found = await fleetRun(service.app);
      expect(found).toMatchObject({ checked: 1, drifted: 1 });

      // `{}`: converge to the recorded spec. The preview reads what really exists, so it shows exactly the way back.
      const requested = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${id}/changes`, headers: auth(), payload: {} });
      expect(requested.statusCode, requested.body).toBe(202);
      const changeUrl = `/api/v1/tenants/${id}/changes/${requested.json().id}`;
      let change: any;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 150))) {
        change = (await service.app.inject({ method: "GET", url: changeUrl, headers: auth(READ_TOKEN) })).json();
        if (change.status !== "PREVIEWING") break;
      }
      expect(change.status).toBe("PENDING_REVIEW");
      expect(change.preview.destructive).toBe(false);
      expect(change.preview.changes.map((c: any) => [c.op, c.urn]).sort()).toEqual([["create", account.urn], ["update", quota.urn]].sort());
      expect(change.preview.changes.find((c: any) => c.urn === quota.urn).diffs).toEqual([{ path: "spec.hard.pods", old: "99", new: "20" }]);

      const approved = await service.app.inject({ method: "POST", url: `${changeUrl}/approve`, headers: auth(), payload: {} });
      expect(approved.statusCode, approved.body).toBe(202);
      const status = await waitForStatus(service.app, id, (s) => s.run?.kind === "update" && settled(s), 120_000);
      expect(status).toMatchObject({ status: "ACTIVE", run: { kind: "update", status: "SUCCEEDED" } });
      expect((await service.app.inject({ method: "GET", url: changeUrl, headers: auth(READ_TOKEN) })).json().status).toBe("APPLIED");

      const after = await fleetRun(service.app);
      expect(after).toMatchObject({ checked: 1, drifted: 0, failed: 0 });
      expect((await driftHistory(service.app, id)).items[0]).toMatchObject({ driftRunId: after.id, state: "IN_SYNC", resources: [] });
      expect(await driftEventTypes(service.app, id)).toEqual(["tenant.drift_detected", "tenant.drift_resolved"]);
    } finally {
      await client.end();
      await service.close();
      await db.drop();
    }
  }, 240_000);
});
