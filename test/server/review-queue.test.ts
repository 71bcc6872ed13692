/**
 * One review queue (issue 23): GET /api/v1/changes lists what awaits review
 * across the fleet, on a real PostgreSQL with real previews (render engine).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();

const ALICE = "rQ7vN2kWp9Zx4Tb6Lm3Yc8Hd5Jf1Gs0A";
const BOB = "tY4qP8zR1mK6vB3nW9xL5cE2hJ7gD0fU";

describe.skipIf(!postgres.available)("the review queue across the fleet", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;
  const tenants: Record<string, string> = {};
  const changes: Record<string, string> = {};

  const call = (method: "GET" | "POST", url: string, token: string, payload?: object) =>
    service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const queue = async (query = "", token = READ_TOKEN) => {
    const res = await call("GET", `/api/v1/changes${query}`, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  async function activeTenant(slug: string, tier: string): Promise<string> {
    const created = await call("POST", "/api/v1/tenants", ALICE, tenantRequest(slug, tier));
    expect(created.statusCode, created.body).toBe(202);
    const status = await waitForStatus(service.app, created.json().tenant.id, settled);
    expect(status.status).toBe("ACTIVE");
    return created.json().tenant.id;
  }

  async function reviewedChange(tenantId: string, token: string, body: object): Promise<string> {
    const res = await call("POST", `/api/v1/tenants/${tenantId}/changes`, token, body);
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().id;
    let change: any;
    for (let i = 0; i < 300 && (!change || change.status === "PREVIEWING"); i++) {
      if (change) await new Promise((r) => setTimeout(r, 150));
      change = (await call("GET", `/api/v1/tenants/${tenantId}/changes/${id}`, token)).json();
    }
    expect(change.status, JSON.stringify(change.error)).toBe("PENDING_REVIEW");
    return id;
  }

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_RENDER_PACE: "0.002" });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    tenants.north = await activeTenant("rq-north", "free");
    tenants.south = await activeTenant("rq-south", "professional");
    tenants.east = await activeTenant("rq-east", "free");
    tenants.west = await activeTenant("rq-west", "free");
    // Oldest first: north (alice), then south (bob); east is rejected, west's has expired.
    changes.north = await reviewedChange(tenants.north, ALICE, { tier: "professional", reason: "more capacity" });
    changes.south = await reviewedChange(tenants.south, BOB, { tier: "enterprise" });
    changes.east = await reviewedChange(tenants.east, ALICE, { tier: "professional" });
    changes.west = await reviewedChange(tenants.west, BOB, { tier: "professional" });
    const rejected = await call("POST", `/api/v1/tenants/${tenants.east}/changes/${changes.east}/reject`, BOB, { reason: "not this quarter" });
    expect(rejected.statusCode, rejected.body).toBe(200);
    await client.query("UPDATE tenant_changes SET expires_at = now() - interval '1 minute' WHERE id = $1", [changes.west]);
  }, 240_000);
  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  it("lists the changes awaiting review across tenants, oldest first, each a tenant change with its tenant and summary", async () => {
    const body = await queue();
    expect(body).toMatchObject({ total: 2, limit: 50, offset: 0 });
    expect(body.items.map((c: any) => c.id)).toEqual([changes.north, changes.south]);
    const [north, south] = body.items;
    expect(north).toMatchObject({
      kind: "tenant", action: "update", status: "PENDING_REVIEW", requestedBy: "alice", reason: "more capacity",
      tenant: { id: tenants.north, slug: "rq-north", tier: "free", status: "ACTIVE" }, target: { tier: "professional", lastPhase: 10 },
      href: `/api/v1/tenants/${tenants.north}/changes/${changes.north}`,
    });
    expect(typeof north.destructive).toBe("boolean");
    expect(north.changeSummary.create + north.changeSummary.update + north.changeSummary.replace + north.changeSummary.delete).toBeGreaterThan(0);
    expect(south).toMatchObject({ requestedBy: "bob", reason: null, tenant: { slug: "rq-south", tier: "professional" }, target: { tier: "enterprise" } });
    // The link leads to the change itself.
    expect((await call("GET", north.href, READ_TOKEN)).json()).toMatchObject({ id: changes.north, status: "PENDING_REVIEW" });
  });

  it("filters by tenant (id or slug), tier and requester, and pages", async () => {
    expect((await queue("?tenant=rq-south")).items.map((c: any) => c.id)).toEqual([changes.south]);
    expect((await queue(`?tenant=${tenants.north}`)).items.map((c: any) => c.id)).toEqual([changes.north]);
    expect((await queue("?tier=professional")).items.map((c: any) => c.id)).toEqual([changes.south]);
    expect((await queue("?requestedBy=alice")).items.map((c: any) => c.id)).toEqual([changes.north]);
    expect(await queue("?requestedBy=carol")).toMatchObject({ items: [], total: 0 });
    expect(await queue("?tier=free&requestedBy=bob")).toMatchObject({ items: [], total: 0 });
    const second = await queue("?limit=1&offset=1");
    expect(second).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(second.items.map((c: any) => c.id)).toEqual([changes.south]);
  });

  it("leaves out decided and expired changes, which show under their own status", async () => {
    const rejected = await queue("?status=REJECTED");
    expect(rejected.items.map((c: any) => [c.id, c.tenant.slug, c.status])).toEqual([[changes.east, "rq-east", "REJECTED"]]);
    // Past its time a change can no longer be approved: it awaits nobody.
    expect((await queue()).items.map((c: any) => c.id)).not.toContain(changes.west);
    const approve = await call("POST", `/api/v1/tenants/${tenants.west}/changes/${changes.west}/approve`, ALICE, {});
    expect(approve.statusCode).toBe(409);
  });

  it("refuses unknown filters and bad statuses, and needs a token", async () => {
    expect((await call("GET", "/api/v1/changes?status=WAITING", READ_TOKEN)).statusCode).toBe(400);
    expect((await call("GET", "/api/v1/changes?tier=gold", READ_TOKEN)).statusCode).toBe(400);
    expect((await call("GET", "/api/v1/changes?colour=red", READ_TOKEN)).statusCode).toBe(400);
    expect((await service.app.inject({ method: "GET", url: "/api/v1/changes" })).statusCode).toBe(401);
  });
});
