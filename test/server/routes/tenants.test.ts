import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../../support/service.ts";

const pg = await probePostgres();

describe.skipIf(!pg.available)("the tenant routes, as a new user meets them", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    // Paced so that a run is still going when the preview-during-a-run case asks.
    service = await startService(db.url, { MATIH_RENDER_PACE: "0.01" });
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });
  const create = (slug: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), ...headers }, payload: tenantRequest(slug, "free", extra) });

  it.each([
    ["/api/v1/tenants?offset=99999999999999999999", "offset"],
    ["/api/v1/tenants/nobody/audit?after=99999999999999999999", "after"],
    ["/api/v1/events?after=99999999999999999999", "after"],
  ])("answers %s with 400 naming the field, not a database error", async (url, field) => {
    if (url.includes("/nobody/")) {
      await create("nobody");
      url = url.replace("nobody", "nobody");
    }
    const res = await service.app.inject({ method: "GET", url, headers: auth() });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().details.map((d: { field: string }) => d.field)).toEqual([field]);
  });

  it("counts characters one way: 200 emoji are a valid displayName, 201 are not, and both validators agree", async () => {
    const ok = await create("emoji-ok", { displayName: "🚀".repeat(200) });
    expect(ok.statusCode, ok.body).toBe(202);
    const tooLong = await create("emoji-long", { displayName: "🚀".repeat(201) });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().details).toEqual([expect.objectContaining({ field: "displayName" })]);
  });

  it("provisions phases 1 to lastPhase when the request names one, and refuses a lastPhase outside 1-10", async () => {
    const res = await create("first-six", { lastPhase: 6 });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().run.targetPhase).toBe(6);
    const status = await waitForStatus(service.app, res.json().tenant.id, settled, 90_000);
    expect(status.status).toBe("ACTIVE");
    expect(status.phases.map((p: { number: number; status: string }) => [p.number, p.status])).toEqual([
      [1, "SUCCEEDED"], [2, "SUCCEEDED"], [3, "SUCCEEDED"], [4, "SUCCEEDED"], [5, "SUCCEEDED"], [6, "SUCCEEDED"],
      [7, "PENDING"], [8, "PENDING"], [9, "PENDING"], [10, "PENDING"],
    ]);
    for (const lastPhase of [0, 11, 2.5, "6"]) {
      const refused = await create(`bad-last-phase`, { lastPhase });
      expect(refused.statusCode, String(lastPhase)).toBe(400);
      expect(refused.json().details).toEqual([{ field: "lastPhase", message: `must be a whole number from 1 to 10, got ${JSON.stringify(lastPhase)}` }]);
    }
  });

  it("treats the same Idempotency-Key with the same fields in another order as the same request", async () => {
    const body = tenantRequest("ordered");
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const first = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "idempotency-key": "order-1" }, payload: body });
    const again = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "idempotency-key": "order-1" }, payload: reordered });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
  });

  it("finds a deleted tenant by its slug, and the new one once the slug is reused", async () => {
    const first = (await create("phoenix-slug")).json().tenant;
    await waitForStatus(service.app, first.id, settled, 90_000);
    const requested = Date.now();
    const deleted = await service.app.inject({ method: "DELETE", url: "/api/v1/tenants/phoenix-slug?confirm=phoenix-slug", headers: auth() });
    expect(deleted.statusCode).toBe(202);
    expect(Object.keys(deleted.json()).sort()).toEqual(["run", "tenant"]);
    expect(deleted.headers.location).toBe(`/api/v1/tenants/${first.id}/provisioning/status`);
    const gone = await waitForStatus(service.app, "phoenix-slug", (s) => s.status === "DELETED", 90_000);
    const observed = Date.now();

    // Each run reports its own duration: the teardown's, not the provisioning's.
    expect(gone.run.kind).toBe("teardown");
    expect(Math.abs(gone.run.durationMs - (Date.parse(gone.run.completedAt) - Date.parse(gone.run.startedAt)))).toBeLessThanOrEqual(1);
    expect(Date.parse(gone.run.startedAt)).toBeGreaterThanOrEqual(requested - 1000);
    expect(gone.run.durationMs).toBeLessThanOrEqual(observed - requested);

    const bySlug = await service.app.inject({ method: "GET", url: "/api/v1/tenants/phoenix-slug", headers: auth() });
    expect(bySlug.statusCode).toBe(200);
    expect(bySlug.json()).toMatchObject({ id: first.id, status: "DELETED" });
    const second = (await create("phoenix-slug")).json().tenant;
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants/phoenix-slug", headers: auth() })).json().id).toBe(second.id);
  }, 240_000);

  it("answers a preview during a run at once with 409 run_in_progress, and otherwise lists changes only, by phase", async () => {
    const tenant = (await create("previewed")).json().tenant;
    await waitForStatus(service.app, tenant.id, (s) => s.run?.status === "RUNNING", 60_000);
    const startedAt = Date.now();
    const busy = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth() });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({ code: "run_in_progress" });
    expect(busy.json().message).toMatch(/nothing was computed/);

    await waitForStatus(service.app, tenant.id, settled, 120_000);
    const upgrade = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: { tier: "professional" } })).json();
    expect(upgrade.included).toBe("changes");
    const listed = upgrade.phases.flatMap((p: any) => p.changes);
    expect(listed.every((c: any) => c.op !== "same")).toBe(true);
    expect(upgrade.phases.map((p: any) => p.number)).toEqual([...upgrade.phases.map((p: any) => p.number)].sort((a: number, b: number) => a - b));
    const namespacePhase = upgrade.phases.find((p: any) => p.number === 1);
    expect(namespacePhase.name).toBe("CREATE_NAMESPACE");
    expect(namespacePhase.changes.find((c: any) => c.type === "kubernetes:core/v1:ResourceQuota")).toMatchObject({ op: "update" });

    const all = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview?include=same`, headers: auth(), payload: { tier: "professional" } })).json();
    expect(all.included).toBe("all");
    const everything = all.phases.flatMap((p: any) => p.changes);
    expect(everything.filter((c: any) => c.op === "same").length).toBeGreaterThan(30);
    expect(listed.map((c: any) => c.urn).sort()).toEqual(everything.filter((c: any) => c.op !== "same").map((c: any) => c.urn).sort());
  }, 240_000);
});
