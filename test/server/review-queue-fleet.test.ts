/**
 * Fleet changes in the one review queue (issue 23): GET /api/v1/changes lists
 * tenant and fleet changes together, oldest first, on a real PostgreSQL with
 * real previews (render engine); the tenant and tier filters reach a fleet
 * change through the tenants it was previewed on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";
import { MIXED_PATCH, propose, waitForRollout } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

const ALICE = "pX3vN8kWq2Zr5Tb9Lm6Yc1Hd4Jf7GsAe";
const BOB = "mY9qP2zR7mK4vB8nW1xL6cE3hJ5gD0fUo";

describe.skipIf(!postgres.available)("fleet changes in the review queue", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  const tenants: Record<string, string> = {};
  let tenantChange: string;
  let fleetChange: any;

  const call = (method: "GET" | "POST", url: string, token: string, payload?: object) =>
    service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const queue = async (query = "") => {
    const res = await call("GET", `/api/v1/changes${query}`, READ_TOKEN);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const ids = async (query = "") => (await queue(query)).items.map((i: any) => `${i.kind}:${i.id}`);

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_RENDER_PACE: "0.002" });
    for (const [slug, tier] of [["rqf-free", "free"], ["rqf-pro", "professional"]] as const) {
      const created = await call("POST", "/api/v1/tenants", ALICE, tenantRequest(slug, tier));
      expect(created.statusCode, created.body).toBe(202);
      tenants[slug] = created.json().tenant.id;
      expect((await waitForStatus(service.app, tenants[slug]!, settled)).status).toBe("ACTIVE");
    }
    // Oldest first: alice's tenant change of the free tenant, then bob's fleet change of the professional tier.
    const requested = await call("POST", `/api/v1/tenants/${tenants["rqf-free"]}/changes`, ALICE, { tier: "professional", reason: "more capacity" });
    expect(requested.statusCode, requested.body).toBe(202);
    tenantChange = requested.json().id;
    let status = "PREVIEWING";
    for (let i = 0; i < 400 && status === "PREVIEWING"; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 150));
      status = (await call("GET", `/api/v1/tenants/${tenants["rqf-free"]}/changes/${tenantChange}`, ALICE)).json().status;
    }
    expect(status).toBe("PENDING_REVIEW");
    fleetChange = await propose(service.app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0", selector: { tiers: ["professional"] } }, BOB);
  }, 240_000);
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("lists tenant and fleet changes in one list, oldest first, the fleet change with its reason, requester and grouped impact", async () => {
    const body = await queue();
    expect(body).toMatchObject({ total: 2, limit: 50, offset: 0 });
    expect(body.items.map((i: any) => `${i.kind}:${i.id}`)).toEqual([`tenant:${tenantChange}`, `fleet:${fleetChange.id}`]);
    const fleet = body.items[1];
    expect(fleet).toEqual({
      kind: "fleet", id: fleetChange.id, status: "PENDING_REVIEW", requestedBy: "bob", reason: "ai-service 2.0.0", createdAt: fleetChange.createdAt,
      changedPaths: fleetChange.changedPaths, selector: { tiers: ["professional"] }, tenants: 1,
      groups: fleetChange.preview.groups.map((g: any) => ({ tenants: g.tenants, summary: g.summary, destructive: g.destructive })),
      destructive: false, destructiveTenants: 0, failedTenants: 0, rolloutId: null, href: `/api/v1/fleet/changes/${fleetChange.id}`,
    });
    expect(fleet.groups[0]).toMatchObject({ tenants: 1, summary: expect.stringMatching(/update \d+ (Release|Deployment)/) });
    // The link leads to the fleet change itself.
    expect((await call("GET", fleet.href, READ_TOKEN)).json()).toMatchObject({ id: fleetChange.id, status: "PENDING_REVIEW" });
    // A page boundary between the two kinds.
    expect(await queue("?limit=1&offset=1")).toMatchObject({ total: 2, items: [{ kind: "fleet", id: fleetChange.id }] });
  });

  it("filters a fleet change by requester, and by tenant and tier through the tenants it was previewed on", async () => {
    expect(await ids("?requestedBy=bob")).toEqual([`fleet:${fleetChange.id}`]);
    expect(await ids("?requestedBy=alice")).toEqual([`tenant:${tenantChange}`]);
    // Its selector matched the professional tenant only.
    expect(await ids("?tier=professional")).toEqual([`fleet:${fleetChange.id}`]);
    expect(await ids("?tier=free")).toEqual([`tenant:${tenantChange}`]);
    expect(await ids("?tenant=rqf-pro")).toEqual([`fleet:${fleetChange.id}`]);
    expect(await ids(`?tenant=${tenants["rqf-pro"]}`)).toEqual([`fleet:${fleetChange.id}`]);
    expect(await ids("?tenant=rqf-free")).toEqual([`tenant:${tenantChange}`]);
    expect(await queue("?tier=enterprise")).toMatchObject({ items: [], total: 0 });
  });

  it("leaves out decided and stale fleet changes, which show under their own status", async () => {
    const rejectedChange = await propose(service.app, { settings: { images: { tags: { "ai-service": "2.0.1" } } }, reason: "not yet" }, BOB);
    const stale = await propose(service.app, { settings: { images: { tags: { "ai-service": "2.0.2" } } }, reason: "later" }, BOB);
    expect(await ids()).toEqual([`tenant:${tenantChange}`, `fleet:${fleetChange.id}`, `fleet:${rejectedChange.id}`, `fleet:${stale.id}`]);
    expect((await call("POST", `/api/v1/fleet/changes/${rejectedChange.id}/reject`, ALICE, { reason: "wrong tag" })).statusCode).toBe(200);
    const approved = await call("POST", `/api/v1/fleet/changes/${fleetChange.id}/approve`, ALICE, {});
    expect(approved.statusCode, approved.body).toBe(202);
    await waitForRollout(service.app, approved.json().id, (r) => r.status === "COMPLETED");
    // The third was previewed on the version before the approval's: its approval would be refused, so it awaits nobody.
    expect(await ids()).toEqual([`tenant:${tenantChange}`]);
    expect(await queue("?status=REJECTED")).toMatchObject({ total: 1, items: [{ kind: "fleet", id: rejectedChange.id, status: "REJECTED" }] });
    expect(await queue("?status=APPROVED")).toMatchObject({ total: 1, items: [{ kind: "fleet", id: fleetChange.id, rolloutId: approved.json().id }] });
  }, 120_000);
});
