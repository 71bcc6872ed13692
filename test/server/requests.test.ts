import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, startService, tenantRequest, type TestService } from "../support/service.ts";

const pgProbe = await probePostgres();

describe.skipIf(!pgProbe.available)("bad requests and authentication", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;

  const counts = async () => {
    const { rows } = await client.query(`SELECT (SELECT count(*) FROM tenants)::int AS tenants, (SELECT count(*) FROM provisioning_audit_logs)::int AS audit,
      (SELECT count(*) FROM provisioning_runs)::int AS runs, (SELECT count(*) FROM idempotency_keys)::int AS keys`);
    return rows[0];
  };

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_BODY_LIMIT_BYTES: "4096" });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  const post = (payload: string, headers: Record<string, string> = {}) =>
    service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "content-type": "application/json", ...headers }, payload });

  it.each([
    ["malformed JSON", '{"slug": "acme",', "malformed_json"],
    ["a wrong type", JSON.stringify(tenantRequest("acme", "free", { displayName: 42 })), "invalid_request"],
    ["an unknown field", JSON.stringify(tenantRequest("acme", "free", { quota: "unlimited" })), "invalid_request"],
    ["a missing field", JSON.stringify({ slug: "acme", tier: "free" }), "invalid_request"],
    ["an oversized body", JSON.stringify(tenantRequest("acme", "free", { displayName: "x".repeat(5000) })), "body_too_large"],
    ["a hostile slug (SQL)", JSON.stringify(tenantRequest("acme'; DROP TABLE tenants;--")), "invalid_request"],
    ["a hostile slug (path)", JSON.stringify(tenantRequest("../../etc")), "invalid_request"],
    ["a hostile slug (reserved)", JSON.stringify(tenantRequest("kube-system")), "invalid_request"],
    ["an unknown tier", JSON.stringify(tenantRequest("acme", "gold")), "invalid_request"],
    ["an unknown region", JSON.stringify(tenantRequest("acme", "free", { region: "mars-north" })), "invalid_request"],
    ["a JSON array", "[]", "invalid_request"],
  ])("answers %s with 400 and writes nothing", async (_what, payload, code) => {
    const before = await counts();
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe(code);
    expect(await counts()).toEqual(before);
  });

  it("lists every invalid field at once, each by name", async () => {
    const res = await post(JSON.stringify({ slug: "Bad Slug!", displayName: "X", tier: "free", region: "mars", adminEmail: "not-an-email" }));
    expect(res.statusCode).toBe(400);
    const fields = res.json().details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(["slug", "region", "adminEmail"]));
  });

  it("names every schema problem too, including unknown fields", async () => {
    const res = await post(JSON.stringify({ slug: 7, tier: "gold", extra: true }));
    const fields = res.json().details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(["slug", "tier", "extra", "displayName", "region", "adminEmail"]));
  });

  it("answers an unknown tier in plain words together with every other field's problem", async () => {
    const res = await post(JSON.stringify({ slug: "kube-system", displayName: 42, tier: "gold", region: "mars", adminEmail: "x", quota: "unlimited" }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      code: "invalid_request",
      message: "the tenant request is invalid",
      details: [
        { field: "slug", message: '"kube-system" is reserved' },
        { field: "displayName", message: "must be a string, got number" },
        { field: "tier", message: "must be one of free, professional, enterprise" },
        { field: "region", message: 'must be a supported Azure region (for example eastus, eastus2, centralus), got "mars"' },
        { field: "adminEmail", message: "must be an e-mail address" },
        { field: "quota", message: "is not a known field" },
      ],
    });
  });

  it("answers a bad tier in a preview in the same words", async () => {
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants/nobody/preview", headers: auth(), payload: { tier: "gold", lastPhase: 99 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual(expect.arrayContaining([{ field: "tier", message: "must be one of free, professional, enterprise" }]));
    expect(JSON.stringify(res.json())).not.toMatch(/constant|anyOf/);
  });

  it("refuses a body that is not JSON with 415", async () => {
    const res = await post("slug=acme", { "content-type": "application/x-www-form-urlencoded" });
    expect(res.statusCode).toBe(415);
  });

  it("answers 401 without a token or with a wrong one, for the API and the WebSocket", async () => {
    const none = await service.app.inject({ method: "GET", url: "/api/v1/tenants" });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/Bearer/);
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth("wrong-token-wrong-token") })).statusCode).toBe(401);
    expect((await service.app.inject({ method: "GET", url: "/ws/provisioning/acme" })).statusCode).toBe(401);
  });

  it("lets a read token read but answers 403 when it writes", async () => {
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth(READ_TOKEN) })).statusCode).toBe(200);
    const before = await counts();
    const write = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(READ_TOKEN), payload: tenantRequest("reader") });
    expect(write.statusCode).toBe(403);
    expect((await service.app.inject({ method: "DELETE", url: "/api/v1/tenants/reader", headers: auth(READ_TOKEN) })).statusCode).toBe(403);
    expect(await counts()).toEqual(before);
  });

  it("answers 404 in JSON for an unknown tenant and an unknown route", async () => {
    const tenant = await service.app.inject({ method: "GET", url: "/api/v1/tenants/nobody/provisioning/status", headers: auth() });
    expect(tenant.statusCode).toBe(404);
    expect(tenant.json()).toEqual({ code: "not_found", message: 'tenant "nobody" was not found' });
    expect((await service.app.inject({ method: "GET", url: "/api/v2/nothing", headers: auth() })).json().code).toBe("not_found");
  });

  it("never puts a token or a password in a response, the audit log or the stored outputs", async () => {
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("secretive") });
    expect(created.statusCode).toBe(202);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const { rows } = await client.query("SELECT status FROM tenants WHERE slug = 'secretive'");
      if (rows[0].status !== "PROVISIONING") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const dump = JSON.stringify((await client.query(`SELECT row_to_json(t) FROM (SELECT * FROM tenants) t UNION ALL SELECT row_to_json(a) FROM (SELECT * FROM provisioning_audit_logs) a
      UNION ALL SELECT row_to_json(r) FROM (SELECT * FROM provisioning_runs) r UNION ALL SELECT row_to_json(o) FROM (SELECT * FROM outbox) o`)).rows);
    expect(dump).not.toContain(ADMIN_TOKEN);
    expect(dump.match(/render-[0-9a-f]{16}/)).toBeNull();
    const status = await service.app.inject({ method: "GET", url: "/api/v1/tenants/secretive", headers: auth() });
    expect(status.body).not.toContain(ADMIN_TOKEN);
    expect(status.json().outputs.credentialsSecretName).toBe("tenant-database-credentials");
  });
});
