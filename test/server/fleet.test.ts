import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pg = await probePostgres();

/** A fleet-stream client that keeps what it receives; `ready` resolves once the server has subscribed it. */
function fleetClient(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, { headers });
  const messages: any[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      messages.push(message);
      if (message.type === "subscribed") resolve();
    });
    socket.on("error", reject);
  });
  return { socket, messages, ready };
}

describe.skipIf(!pg.available)("the fleet: one page of every tenant, and every tenant's transitions live", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let base: string;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_RENDER_PACE: "0.002" });
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    base = `ws://127.0.0.1:${(service.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  const fleet = async (query = "", token = READ_TOKEN) => service.app.inject({ method: "GET", url: `/api/v1/fleet${query}`, headers: auth(token) });

  it("streams the transitions of every tenant on /ws/provisioning, and only transitions", async () => {
    const client = fleetClient(`${base}/ws/provisioning?access_token=${READ_TOKEN}`);
    await client.ready;
    const ids: string[] = [];
    for (const [slug, tier] of [["north", "free"], ["south", "enterprise"]] as const) {
      ids.push((await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug, tier) })).json().tenant.id);
    }
    await Promise.all(ids.map((id) => waitForStatus(service.app, id, (s) => settled(s) && s.status === "ACTIVE")));
    await new Promise((r) => setTimeout(r, 200));
    client.socket.close();
    for (const id of ids) {
      const mine = client.messages.filter((m) => m.tenantId === id);
      expect(mine.filter((m) => m.type === "phase").map((m) => [m.phase.number, m.phase.status])).toEqual(
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((n) => [[n, "RUNNING"], [n, "SUCCEEDED"]]),
      );
      expect(mine.filter((m) => m.type === "run")).toEqual([expect.objectContaining({ kind: "provision", status: "RUNNING", attempt: 1 })]);
      expect(mine.at(-1)).toMatchObject({ type: "run-finished", status: "SUCCEEDED", tenantStatus: "ACTIVE" });
    }
    // Per-resource progress stays on the per-tenant stream.
    expect(new Set(client.messages.map((m) => m.type))).toEqual(new Set(["subscribed", "phase", "run", "run-finished"]));
  });

  it("answers a page of tenants, newest first, with each one's run, current phase, ten phase statuses and progress", async () => {
    const res = await fleet();
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ total: 2, limit: 50, offset: 0, countsByStatus: { ACTIVE: 2 } });
    expect(body.items.map((t: any) => t.slug)).toEqual(["south", "north"]);
    const south = body.items[0];
    expect(south).toMatchObject({
      displayName: "south Inc", tier: "enterprise", region: "eastus", status: "ACTIVE", progress: 100,
      currentPhase: { number: 10, name: "SETUP_OBSERVABILITY" }, run: { kind: "provision", status: "SUCCEEDED" }, error: null,
    });
    expect(south.phases).toEqual(Array(10).fill("SUCCEEDED"));
    expect(south.durationMs).toBe(Date.parse(south.completedAt) - Date.parse(south.startedAt));
  });

  it("filters by status and tier, searches by part of the slug, and pages", async () => {
    expect((await fleet("?tier=enterprise")).json().items.map((t: any) => t.slug)).toEqual(["south"]);
    expect((await fleet("?status=FAILED")).json()).toMatchObject({ items: [], total: 0, countsByStatus: { ACTIVE: 2 } });
    expect((await fleet("?search=ORT")).json().items.map((t: any) => t.slug)).toEqual(["north"]);
    // What a user types is text, not a pattern.
    expect((await fleet("?search=%25")).json().total).toBe(0);
    expect((await fleet("?search=_")).json().total).toBe(0);
    const second = (await fleet("?limit=1&offset=1")).json();
    expect(second).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(second.items.map((t: any) => t.slug)).toEqual(["north"]);
    const bad = await fleet("?tier=gold&limit=0");
    expect(bad.statusCode).toBe(400);
    expect(new Set(bad.json().details.map((d: any) => d.field))).toEqual(new Set(["limit", "tier"]));
  });

  it("keeps a change's preview off the stream but its start and end, and shows each tenant's latest drift state, filtered by it", async () => {
    const [south, north] = (await fleet()).json().items;
    expect([south.slug, north.slug]).toEqual(["south", "north"]);
    // Never checked: no drift state yet, counted as UNCHECKED.
    expect(north.drift).toBeNull();
    expect((await fleet()).json().countsByDrift).toEqual({ UNCHECKED: 2 });
    expect((await fleet("?drift=UNCHECKED")).json().total).toBe(2);

    const client = fleetClient(`${base}/ws/provisioning?access_token=${READ_TOKEN}`);
    await client.ready;
    const change = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${north.id}/changes`, headers: auth(), payload: { tier: "professional" } })).json();
    await expect.poll(async () => (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${north.id}/changes/${change.id}`, headers: auth() })).json().status, { timeout: 30_000 }).toBe("PENDING_REVIEW");
    await expect.poll(() => client.messages.some((m) => m.type === "run-finished" && m.tenantId === north.id)).toBe(true);
    client.socket.close();
    // The preview walked all ten phases (its run keeps them), yet the tenant did not move: no phase message reaches the fleet.
    const previewRun = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${north.id}/audit?limit=1000`, headers: auth() })).json().items
      .filter((a: any) => a.entity === "phase" && a.runId !== north.run.id);
    expect(previewRun.length).toBeGreaterThanOrEqual(20);
    expect(client.messages.filter((m) => m.tenantId === north.id).map((m) => [m.type, m.kind, m.status])).toEqual([["run", "preview", "RUNNING"], ["run-finished", "preview", "SUCCEEDED"]]);
    expect((await service.app.inject({ method: "POST", url: `/api/v1/tenants/${north.id}/changes/${change.id}/reject`, headers: auth(), payload: {} })).statusCode).toBe(200);

    // Someone edits north's quota by hand; a fleet drift run finds it.
    const simulated = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${north.id}/simulated-drift`, headers: auth(), payload: { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" } });
    expect(simulated.json().resourcesDiffering).toBe(1);
    const run = (await service.app.inject({ method: "POST", url: "/api/v1/drift/runs", headers: auth() })).json();
    await expect.poll(async () => (await service.app.inject({ method: "GET", url: `/api/v1/drift/runs/${run.id}`, headers: auth() })).json().status, { timeout: 30_000 }).toBe("SUCCEEDED");
    const page = (await fleet()).json();
    const checked = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${north.id}/drift`, headers: auth() })).json().items[0];
    expect(page.items.map((t: any) => [t.slug, t.drift?.state])).toEqual([["south", "IN_SYNC"], ["north", "DRIFTED"]]);
    expect(page.items[1].drift).toEqual({ state: "DRIFTED", since: checked.checkedAt, lastCheckedAt: checked.checkedAt });
    expect(page.countsByDrift).toEqual({ DRIFTED: 1, IN_SYNC: 1 });
    expect((await fleet("?drift=DRIFTED")).json().items.map((t: any) => t.slug)).toEqual(["north"]);
    expect((await fleet("?drift=IN_SYNC&tier=enterprise")).json().items.map((t: any) => t.slug)).toEqual(["south"]);
    expect((await fleet("?drift=IN_SYNC&tier=free")).json().total).toBe(0);
    expect((await fleet("?drift=UNCHECKED")).json().total).toBe(0);
    expect((await fleet("?drift=CHECK_FAILED")).json()).toMatchObject({ total: 0, countsByDrift: { DRIFTED: 1, IN_SYNC: 1 } });
    expect((await fleet("?drift=SOMETIMES")).statusCode).toBe(400);
  });

  it("leaves deleted tenants out unless asked for by status, and times a deleted one up to its teardown", async () => {
    const north = (await fleet("?search=north")).json().items[0];
    expect((await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${north.id}?confirm=${north.slug}`, headers: auth() })).statusCode).toBe(202);
    await waitForStatus(service.app, north.id, (s) => settled(s) && s.status === "DELETED");
    expect((await fleet()).json().items.map((t: any) => t.slug)).toEqual(["south"]);
    const deleted = (await fleet("?status=DELETED")).json();
    expect(deleted.items.map((t: any) => t.slug)).toEqual(["north"]);
    expect(deleted.items[0].phases).toEqual(Array(10).fill("ROLLED_BACK"));
    expect(deleted.items[0].progress).toBe(100);
    expect(deleted.items[0].durationMs).toBeGreaterThan(0);
    expect(deleted.countsByStatus).toEqual({ ACTIVE: 1, DELETED: 1 });
  });

  it("needs a token for the page and the stream", async () => {
    expect((await service.app.inject({ method: "GET", url: "/api/v1/fleet" })).statusCode).toBe(401);
    await expect(fleetClient(`${base}/ws/provisioning`).ready).rejects.toThrow(/401/);
    await expect(fleetClient(`${base}/ws/provisioning?access_token=wrong-token-0123456789`).ready).rejects.toThrow(/401/);
    const viaHeader = fleetClient(`${base}/ws/provisioning`, auth(ADMIN_TOKEN));
    await viaHeader.ready;
    viaHeader.socket.close();
  });

  it("tells the dashboard who the token belongs to, and what a tenant request may choose", async () => {
    expect((await service.app.inject({ method: "GET", url: "/api/v1/session", headers: auth(READ_TOKEN) })).json()).toEqual({ principal: "reader-1", scope: "read" });
    expect((await service.app.inject({ method: "GET", url: "/api/v1/session", headers: auth(ADMIN_TOKEN) })).json()).toEqual({ principal: "admin", scope: "admin" });
    expect((await service.app.inject({ method: "GET", url: "/api/v1/session", headers: auth("wrong-token-0123456789") })).statusCode).toBe(401);
    const platform = (await service.app.inject({ method: "GET", url: "/api/v1/platform", headers: auth(READ_TOKEN) })).json();
    expect(platform.tiers).toEqual(["free", "professional", "enterprise"]);
    expect(platform.regions).toContain("eastus");
    expect(platform.baseDomain).toBe("matih.ai");
    expect(platform.phases.map((p: any) => p.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(platform.phases[5]).toMatchObject({ name: "DEPLOY_INGRESS_CONTROLLER" });
  });
});
