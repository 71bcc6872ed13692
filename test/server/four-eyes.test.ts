/**
 * Four eyes that hold (MATIH_REQUIRE_SEPARATE_APPROVER): a rotation's tokens
 * are one principal, so nobody approves their own change with their second
 * token; and a teardown, or a rollback that deletes a stateful phase, is a
 * request that another admin approves, not one person's act.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATEFUL_PHASES, statefulPhasesRemoved } from "../../server/domain/change-service.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();

/** The rotation's second admin token: the same principal as ADMIN_TOKEN. */
const ROTATED = "test-rotated-admin-Wq3nV8kZ1xR6mT4pL9bY2c";
const ALICE = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
const BOB = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";

describe("which phases a rollback may not drop alone", () => {
  it("names the database and the DNS zone, and only those the tenant reached", () => {
    expect(STATEFUL_PHASES).toEqual([2, 7]);
    expect(statefulPhasesRemoved(8, 10)).toEqual([]);
    expect(statefulPhasesRemoved(6, 10)).toEqual([7]);
    expect(statefulPhasesRemoved(1, 10)).toEqual([2, 7]);
    expect(statefulPhasesRemoved(1, 6)).toEqual([2]);
  });
});

describe.skipIf(!postgres.available)("four eyes on changes, teardowns and rollbacks", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, {
      MATIH_ADMIN_TOKEN: `${ADMIN_TOKEN},${ROTATED}`,
      MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`,
      MATIH_REQUIRE_SEPARATE_APPROVER: "true",
      // Every tenant's first provisioning fails in phase 9 (one attempt): FAILED with phases 1-8 done, to roll back;
      // a retry then succeeds, for an ACTIVE tenant.
      MATIH_RENDER_FAULTS: JSON.stringify({ 9: { failTimes: 1 } }),
      MATIH_MAX_ATTEMPTS: "1",
    });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  const call = (method: "GET" | "POST" | "DELETE", url: string, token: string, payload?: object) =>
    service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const approve = (tenantId: string, changeId: string, token: string) => call("POST", `/api/v1/tenants/${tenantId}/changes/${changeId}/approve`, token, {});
  const audit = async (id: string) => (await call("GET", `/api/v1/tenants/${id}/audit?limit=1000`, ADMIN_TOKEN)).json().items as any[];
  const runsOf = async (id: string) => (await client.query(`SELECT kind, status, requested_by AS "requestedBy" FROM provisioning_runs WHERE tenant_id = $1 ORDER BY created_at`, [id])).rows;

  async function failedTenant(slug: string): Promise<any> {
    const created = await call("POST", "/api/v1/tenants", ADMIN_TOKEN, tenantRequest(slug));
    expect(created.statusCode, created.body).toBe(202);
    const status = await waitForStatus(service.app, created.json().tenant.id, settled);
    expect(status.status).toBe("FAILED");
    expect(status.phases.filter((p: any) => p.status === "SUCCEEDED").map((p: any) => p.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    return created.json().tenant;
  }

  async function activeTenant(slug: string): Promise<any> {
    const tenant = await failedTenant(slug);
    expect((await call("POST", `/api/v1/tenants/${tenant.id}/provisioning/retry`, ADMIN_TOKEN)).statusCode).toBe(202);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    return tenant;
  }

  it("counts a rotation's two tokens as one principal: the second cannot approve the first's change", async () => {
    expect((await call("GET", "/api/v1/session", ROTATED)).json()).toEqual({ principal: "admin", scope: "admin" });
    const tenant = await activeTenant("rotation");
    const requested = await call("POST", `/api/v1/tenants/${tenant.id}/changes`, ADMIN_TOKEN, { tier: "professional" });
    expect(requested.statusCode).toBe(202);
    const changeId = requested.json().id;
    await expect.poll(async () => (await call("GET", `/api/v1/tenants/${tenant.id}/changes/${changeId}`, ADMIN_TOKEN)).json().status, { timeout: 60_000 }).toBe("PENDING_REVIEW");

    const own = await approve(tenant.id, changeId, ROTATED);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe("same_principal");
    const other = await approve(tenant.id, changeId, ALICE);
    expect(other.statusCode).toBe(202);
    expect(other.json().change).toMatchObject({ kind: "update", createdBy: "admin", decidedBy: "alice" });
    await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));
  });

  it("makes DELETE a request another admin approves: 202 with the request and its approvers, nothing torn down until then", async () => {
    const tenant = await activeTenant("doomed");
    const asked = await call("DELETE", `/api/v1/tenants/${tenant.id}?confirm=${tenant.slug}`, ALICE);
    expect(asked.statusCode, asked.body).toBe(202);
    const request = asked.json();
    expect(request.change).toMatchObject({ kind: "teardown", status: "PENDING_REVIEW", createdBy: "alice", target: { lastPhase: 0 }, preview: null, runId: null });
    expect(request.approval).toMatchObject({
      requestedBy: "alice",
      approvers: ["admin", "bob"],
      approve: `/api/v1/tenants/${tenant.id}/changes/${request.change.id}/approve`,
      reject: `/api/v1/tenants/${tenant.id}/changes/${request.change.id}/reject`,
    });
    expect(request.message).toMatch(/^the teardown was not started: it awaits approval by admin or bob/);
    expect(asked.headers.location).toBe(`/api/v1/tenants/${tenant.id}/changes/${request.change.id}`);
    expect(request).not.toHaveProperty("run");
    expect((await call("GET", `/api/v1/tenants/${tenant.id}`, ADMIN_TOKEN)).json().status).toBe("ACTIVE");
    expect((await runsOf(tenant.id)).map((r) => r.kind)).not.toContain("teardown");

    // Asking again, by anyone, answers the same request instead of queuing a second one.
    const again = await call("DELETE", `/api/v1/tenants/${tenant.id}?confirm=${tenant.slug}`, BOB);
    expect(again.statusCode).toBe(202);
    expect(again.json().change.id).toBe(request.change.id);
    expect(again.json().change.createdBy).toBe("alice");

    const own = await approve(tenant.id, request.change.id, ALICE);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe("same_principal");
    const approved = await approve(tenant.id, request.change.id, BOB);
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json().run).toMatchObject({ kind: "teardown", targetPhase: 0 });
    expect(approved.json().change).toMatchObject({ kind: "teardown", status: "APPROVED", createdBy: "alice", decidedBy: "bob", runId: approved.json().run.id });
    expect(approved.json().tenant.status).toBe("DEPROVISIONING");
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("DELETED");

    const rows = await audit(tenant.id);
    expect(rows.find((a) => a.entity === "change" && a.to === "PENDING_REVIEW")).toMatchObject({ actor: "alice", message: expect.stringContaining("another admin must approve it") });
    expect(rows.find((a) => a.entity === "change" && a.to === "APPROVED")).toMatchObject({ actor: "bob" });
    expect(rows.find((a) => a.entity === "tenant" && a.to === "DEPROVISIONING")).toMatchObject({ actor: "bob", message: "teardown requested (requested by alice, approved by bob)" });
  });

  it("lets a rejected or expired teardown request tear nothing down", async () => {
    const tenant = await activeTenant("spared");
    const first = (await call("DELETE", `/api/v1/tenants/${tenant.id}?confirm=${tenant.slug}`, ALICE)).json().change;
    const rejected = await call("POST", `/api/v1/tenants/${tenant.id}/changes/${first.id}/reject`, BOB, { reason: "still in use" });
    expect(rejected.json()).toMatchObject({ kind: "teardown", status: "REJECTED", decidedBy: "bob", rejectionReason: "still in use", error: null });
    expect((await approve(tenant.id, first.id, BOB)).json().code).toBe("change_not_pending");

    const second = (await call("DELETE", `/api/v1/tenants/${tenant.id}?confirm=${tenant.slug}`, ALICE)).json().change;
    expect(second.id).not.toBe(first.id);
    await client.query(`UPDATE tenant_changes SET expires_at = now() - interval '1 second' WHERE id = $1`, [second.id]);
    const late = await approve(tenant.id, second.id, BOB);
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe("change_expired");
    expect((await call("GET", `/api/v1/tenants/${tenant.id}/changes/${second.id}`, ADMIN_TOKEN)).json().status).toBe("EXPIRED");
    expect((await call("GET", `/api/v1/tenants/${tenant.id}`, ADMIN_TOKEN)).json().status).toBe("ACTIVE");
    expect((await runsOf(tenant.id)).map((r) => r.kind)).not.toContain("teardown");
  });

  it("queues a rollback that keeps the database and the DNS zone at once, and makes one that deletes them a request", async () => {
    const tenant = await failedTenant("rollme");
    // Phases 9 and 10 hold nothing that cannot be made again: one admin may drop them.
    const light = await call("POST", `/api/v1/tenants/${tenant.id}/rollback`, ALICE, { targetPhase: 8 });
    expect(light.statusCode, light.body).toBe(202);
    expect(light.json().run).toMatchObject({ kind: "rollback", targetPhase: 8 });
    expect(light.json()).not.toHaveProperty("approval");
    await waitForStatus(service.app, tenant.id, settled);

    const other = await failedTenant("rolldeep");
    const deep = await call("POST", `/api/v1/tenants/${other.id}/rollback`, ALICE, { targetPhase: 6 });
    expect(deep.statusCode, deep.body).toBe(202);
    expect(deep.json().change).toMatchObject({ kind: "rollback", status: "PENDING_REVIEW", createdBy: "alice", requested: { lastPhase: 6 }, target: { lastPhase: 6 } });
    expect(deep.json().approval.approvers).toEqual(["admin", "bob"]);
    expect((await call("GET", `/api/v1/tenants/${other.id}`, ADMIN_TOKEN)).json().status).toBe("FAILED");
    const audited = (await audit(other.id)).find((a) => a.entity === "change" && a.to === "PENDING_REVIEW");
    expect(audited.message).toContain("rollback of rolldeep to the end of phase 6 (deletes stateful phase 7)");

    const approved = await approve(other.id, deep.json().change.id, ADMIN_TOKEN);
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json().run).toMatchObject({ kind: "rollback", targetPhase: 6 });
    expect(approved.json().change).toMatchObject({ status: "APPROVED", decidedBy: "admin", runId: approved.json().run.id });
    const status = await waitForStatus(service.app, other.id, settled);
    // Phase 10 never ran (phase 9 failed first), so 7 to 9 are what was removed.
    expect(status.phases.filter((p: any) => p.status === "ROLLED_BACK").map((p: any) => p.number)).toEqual([7, 8, 9]);
  });

  it("marks a rollback request stale when the tenant moved on before its approval", async () => {
    const tenant = await failedTenant("movedon");
    const asked = await call("POST", `/api/v1/tenants/${tenant.id}/rollback`, ALICE, { targetPhase: 1 });
    expect(asked.json().change).toMatchObject({ kind: "rollback", status: "PENDING_REVIEW" });
    // Someone retries the tenant meanwhile: it is ACTIVE, and what alice asked for no longer applies.
    expect((await call("POST", `/api/v1/tenants/${tenant.id}/provisioning/retry`, BOB)).statusCode).toBe(202);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    const late = await approve(tenant.id, asked.json().change.id, BOB);
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe("request_stale");
    expect((await call("GET", `/api/v1/tenants/${tenant.id}/changes/${asked.json().change.id}`, ADMIN_TOKEN)).json().status).toBe("STALE");
    expect((await runsOf(tenant.id)).map((r) => r.kind)).not.toContain("rollback");
  });

  it("refuses a teardown or rollback request the tenant's state does not allow, as without four eyes", async () => {
    const tenant = await activeTenant("steady");
    const rollback = await call("POST", `/api/v1/tenants/${tenant.id}/rollback`, ALICE, { targetPhase: 1 });
    expect(rollback.statusCode).toBe(409);
    expect(rollback.json().code).toBe("invalid_transition");
    expect((await call("GET", `/api/v1/tenants/${tenant.id}/changes`, ADMIN_TOKEN)).json().items.filter((c: any) => c.kind !== "update")).toEqual([]);
  });
});
