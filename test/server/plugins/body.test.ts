import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findNul } from "../../../server/plugins/body.ts";
import { probePostgres } from "../../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../../support/service.ts";

describe("findNul", () => {
  it("names the first field holding a NUL character, nested or in a key", () => {
    expect(findNul({ a: "ok", b: { c: ["x", "y\u0000"] } })).toBe("b.c.1");
    expect(findNul({ "bad\u0000key": 1 })).toBe("bad\u0000key");
    expect(findNul("\u0000")).toBe("(body)");
    expect(findNul({ a: "fine", n: 1, z: null })).toBeNull();
  });
});

const pg = await probePostgres();

describe.skipIf(!pg.available)("request bodies", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });
  const tenantCount = async () => (await service.app.db.query("SELECT count(*)::int AS n FROM tenants")).rows[0].n as number;

  it.each([
    ["displayName", { displayName: "Acme\u0000Corp" }],
    ["adminEmail", { adminEmail: "admin\u0000@acme.example" }],
  ])("answers a NUL character in %s with 400 naming the field", async (field, extra) => {
    const before = await tenantCount();
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("nul", "free", extra) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "invalid_request", details: [{ field, message: "must not contain NUL characters (\\u0000)" }] });
    expect(await tenantCount()).toBe(before);
  });

  it("refuses a __proto__ key with a message that says why, not as malformed JSON", async () => {
    const payload = `{"slug":"proto","displayName":"P","tier":"free","region":"eastus","adminEmail":"a@p.example","__proto__":{"admin":true}}`;
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "content-type": "application/json" }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("forbidden_key");
    expect(res.json().message).toMatch(/"__proto__"/);
    const malformed = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "content-type": "application/json" }, payload: "{nope" });
    expect(malformed.json().code).toBe("malformed_json");
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", "application/xml"])("answers a %s body with 415, as every unsupported media type", async (type) => {
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "content-type": type }, payload: "slug=acme" });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe("unsupported_media_type");
  });

  it("still tells a route that needs a body that it is empty", async () => {
    const res = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(), "content-type": "application/json" } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "invalid_request", message: "the request body is empty; send a JSON object" });
    // A union whose every branch requires a field (simulated drift's kinds) needs a body too.
    const union = await service.app.inject({ method: "POST", url: "/api/v1/tenants/anyone/simulated-drift", headers: auth() });
    expect(union.statusCode).toBe(400);
    expect(union.json().message).toBe("the request body is empty; send a JSON object");
  });

  it("accepts Content-Type: application/json with no body on routes that take none, and an optional body left out", async () => {
    const json = { ...auth(), "content-type": "application/json" };
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("bodiless") })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const drift = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/drift-check`, headers: json });
    expect(drift.statusCode, drift.body).toBe(200);
    const previewNoBody = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth() });
    expect(previewNoBody.statusCode, previewNoBody.body).toBe(200);
    const previewEmptyJson = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: json });
    expect(previewEmptyJson.statusCode, previewEmptyJson.body).toBe(200);
    const retry = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/provisioning/retry`, headers: json });
    expect(retry.statusCode).toBe(409); // accepted as a request; refused because the tenant is ACTIVE
    expect(retry.json().message).toMatch(/^an ACTIVE tenant cannot be retried/);
    const del = await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${tenant.id}?confirm=bodiless`, headers: json });
    expect(del.statusCode, del.body).toBe(202);
  });

  it("accepts no body on approve, reject and changes, whose fields are all optional, as preview does", async () => {
    const json = { ...auth(), "content-type": "application/json" };
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("nobody") })).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const waitForReview = async (changeId: string) => {
      for (let i = 0; i < 400; i++) {
        const change = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${changeId}`, headers: auth() })).json();
        if (change.status !== "PREVIEWING") return change;
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`change ${changeId} stayed PREVIEWING`);
    };
    // No body and no Content-Type on one, an empty JSON body on the other: both mean {}.
    const first = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth() });
    expect(first.statusCode, first.body).toBe(202);
    expect((await waitForReview(first.json().id)).status).toBe("PENDING_REVIEW");
    const rejected = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${first.json().id}/reject`, headers: json });
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(rejected.json().status).toBe("REJECTED");
    const second = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: json });
    expect(second.statusCode, second.body).toBe(202);
    expect((await waitForReview(second.json().id)).status).toBe("PENDING_REVIEW");
    const approved = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${second.json().id}/approve`, headers: auth() });
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json().change.status).toBe("APPROVED");
    await waitForStatus(service.app, tenant.id, settled);
  });

  it("marks those bodies optional in the OpenAPI document, and keeps required ones required", async () => {
    const doc = (await service.app.inject({ method: "GET", url: "/docs/json" })).json();
    for (const route of ["/api/v1/tenants/{id}/changes", "/api/v1/tenants/{id}/changes/{changeId}/approve", "/api/v1/tenants/{id}/changes/{changeId}/reject", "/api/v1/tenants/{id}/preview"]) {
      expect(doc.paths[route].post.requestBody.required, route).toBe(false);
    }
    expect(doc.paths["/api/v1/tenants"].post.requestBody.required).toBe(true);
    expect(doc.paths["/api/v1/tenants/{id}/rollback"].post.requestBody.required).toBe(true);
  });
});
