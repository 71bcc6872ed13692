/**
 * Rollouts across two replicas on one PostgreSQL (issue 23): both agree on
 * the settings version the moment it is approved, both advance the rollout
 * and no tenant is applied twice; the fleet stream of either shows it live;
 * and a tenant changed after the fleet preview is previewed again and held
 * for review instead of applied.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, startService, type TestService } from "../support/service.ts";
import { approveFleet, createFleet, MIXED_PATCH, propose, rollout, sql, statuses, waitForRollout } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("fleet changes on two replicas", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    // One warm worker each: the machine is shared with other suites.
    a = await startService(db.url, { MATIH_WORKERS: "1" });
    b = await startService(db.url, { MATIH_WORKERS: "1" });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it("agree on the settings version, share the rollout and apply each tenant once; a tenant changed since the preview is held for review", async () => {
    const ids = await createFleet(a.app);
    const change = await propose(a.app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0" });
    expect((await b.app.inject({ method: "GET", url: `/api/v1/fleet/changes/${change.id}`, headers: auth() })).json()).toEqual(change);

    // charlie changes after the fleet preview: a converge of its own, applied.
    const converge = await b.app.inject({ method: "POST", url: `/api/v1/tenants/${ids.charlie}/changes`, headers: auth(), payload: { reason: "converge" } });
    const convergeId = converge.json().id;
    for (let i = 0; i < 200 && (await b.app.inject({ method: "GET", url: `/api/v1/tenants/${ids.charlie}/changes/${convergeId}`, headers: auth() })).json().status !== "PENDING_REVIEW"; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await b.app.inject({ method: "POST", url: `/api/v1/tenants/${ids.charlie}/changes/${convergeId}/approve`, headers: auth(), payload: {} })).statusCode).toBe(202);
    for (let i = 0; i < 200 && (await b.app.inject({ method: "GET", url: `/api/v1/tenants/${ids.charlie}/changes/${convergeId}`, headers: auth() })).json().status !== "APPLIED"; i++) await new Promise((r) => setTimeout(r, 100));

    // The fleet stream of replica A, while replica B is asked to approve.
    await a.app.listen({ port: 0, host: "127.0.0.1" });
    const socket = new WebSocket(`ws://127.0.0.1:${(a.app.server.address() as { port: number }).port}/ws/provisioning?access_token=${READ_TOKEN}`);
    const messages: any[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on("message", (data) => {
        const m = JSON.parse(String(data));
        messages.push(m);
        if (m.type === "subscribed") resolve();
      });
      socket.on("error", reject);
    });

    const approved = await approveFleet(b.app, change.id, { waves: { canary: 1, growth: 3, concurrency: 4 } });
    expect(approved.statusCode, approved.body).toBe(202);
    const id = approved.json().id;
    for (const replica of [a, b]) {
      expect((await replica.app.inject({ method: "GET", url: "/api/v1/platform/settings", headers: auth() })).json()).toMatchObject({ version: 2, reason: `fleet change ${change.id}: ai-service 2.0.0` });
    }

    const done = await waitForRollout(a.app, id, (r) => r.status === "COMPLETED");
    expect(await rollout(b.app, id)).toEqual(done);
    expect(statuses(done)).toEqual({ alpha: "SUCCEEDED", bravo: "SUCCEEDED", charlie: "HELD", delta: "UNCHANGED" });
    const held = done.held[0];
    expect(held).toMatchObject({ slug: "charlie", reason: expect.stringMatching(/^its stack changed after the fleet preview \(a update run\): previewed again as change /) });

    // Each tenant was previewed and applied once, though two processes worked the rollout.
    const runs = await sql(db.url, "SELECT t.slug, r.kind, count(*)::int AS n FROM provisioning_runs r JOIN tenants t ON t.id = r.tenant_id WHERE r.created_at > $1 GROUP BY 1, 2 ORDER BY 1, 2", [approved.json().createdAt]);
    expect(runs).toEqual([{ slug: "alpha", kind: "preview", n: 1 }, { slug: "alpha", kind: "update", n: 1 }, { slug: "bravo", kind: "preview", n: 1 }, { slug: "bravo", kind: "update", n: 1 }, { slug: "charlie", kind: "preview", n: 1 }]);
    const events = await sql(db.url, "SELECT type FROM outbox WHERE kind = 'event' AND type LIKE 'fleet.%' ORDER BY seq");
    expect(events.map((e) => e.type)).toEqual(["fleet.rollout_started", "fleet.rollout_wave_completed", "fleet.rollout_wave_completed", "fleet.rollout_completed"]);

    // The held tenant's change awaits review in the fleet's review queue; approving it applies the new version.
    let pending: any;
    for (let i = 0; i < 150; i++) {
      pending = (await a.app.inject({ method: "GET", url: "/api/v1/changes", headers: auth() })).json();
      if (pending.items.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(pending.items.map((c: any) => [c.tenant.slug, c.id])).toEqual([["charlie", held.changeId]]);
    const behind = (await a.app.inject({ method: "GET", url: "/api/v1/fleet?behind=true", headers: auth() })).json();
    expect(behind.items.map((t: any) => t.slug)).toEqual(["charlie"]);

    // Live on replica A's fleet stream, whichever replica advanced the rollout.
    socket.close();
    const live = messages.filter((m) => m.type === "rollout" || m.type === "rollout-tenant");
    expect(live.filter((m) => m.type === "rollout").at(-1)).toMatchObject({ rolloutId: id, status: "COMPLETED" });
    expect(live.filter((m) => m.type === "rollout-tenant" && m.slug === "alpha").map((m) => [m.wave, m.status])).toEqual([[1, "PREVIEWING"], [1, "APPLYING"], [1, "SUCCEEDED"]]);
  });

  it("pauses on one replica and resumes on the other; a drifted tenant is skipped and listed", async () => {
    // alpha drifts: someone edited its quota outside the service, and a check found it.
    const drift = await a.app.inject({ method: "POST", url: "/api/v1/tenants/alpha/simulated-drift", headers: auth(), payload: { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" } });
    expect(drift.statusCode, drift.body).toBe(200);
    expect((await a.app.inject({ method: "POST", url: "/api/v1/tenants/alpha/drift-check", headers: auth() })).json().state).toBe("DRIFTED");

    const change = await propose(a.app, { settings: { images: { tags: { "ai-service": "2.0.1" } } }, reason: "ai-service 2.0.1" });
    const approved = await approveFleet(a.app, change.id, { waves: { canary: 1, growth: 2, concurrency: 1 } });
    expect(approved.statusCode, approved.body).toBe(202);
    const id = approved.json().id;
    const paused = await a.app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${id}/pause`, headers: auth() });
    expect(paused.json()).toMatchObject({ status: "PAUSED" });
    expect((await b.app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${id}/pause`, headers: auth() })).json().code).toBe("invalid_transition");

    // While paused, what was under way finishes and nothing new starts.
    const still = await waitForRollout(b.app, id, (r) => r.waves.every((w: any) => w.tenants.every((t: any) => t.status !== "PREVIEWING" && t.status !== "APPLYING")));
    await new Promise((r) => setTimeout(r, 1500));
    expect(statuses(await rollout(a.app, id))).toEqual(statuses(still));
    expect(Object.values(statuses(still))).toContain("PENDING");

    expect((await b.app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${id}/resume`, headers: auth(), payload: {} })).json().status).toBe("RUNNING");
    const done = await waitForRollout(a.app, id, (r) => r.status === "COMPLETED");
    expect(statuses(done)).toEqual({ alpha: "SKIPPED", bravo: "SUCCEEDED", charlie: "SUCCEEDED", delta: "UNCHANGED" });
    expect(done.skipped).toEqual([expect.objectContaining({ slug: "alpha", wave: 1, reason: expect.stringMatching(/^drifted: /) })]);
    const audit = await sql(db.url, "SELECT to_status AS to FROM provisioning_audit_logs WHERE entity = 'fleet' AND details->>'rolloutId' = $1 ORDER BY id", [id]);
    expect(audit.map((r) => r.to)).toEqual(["APPROVED", "PAUSED", "RUNNING", "WAVE_COMPLETED", "WAVE_COMPLETED", "WAVE_COMPLETED", "COMPLETED"]);
  });
});
