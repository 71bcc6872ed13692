/**
 * Input that once reached the database or a mail unchecked: a NUL byte in any
 * route's path or query parameters (a sweep over the OpenAPI document), a
 * change's or rejection's reason with line breaks, escapes or direction
 * overrides, a display name of only invisible characters, a body nested tens
 * of thousands deep; and no-store kept on /readyz and /metrics with a query.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printableLineProblem } from "../../model/spec.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../../server/plugins/body.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, startService, tenantRequest, type TestService } from "../support/service.ts";

/** Text a reason or a display name must not hold: each would forge a mail line, drive a terminal, reorder what is shown, or show nothing. */
const UNPRINTABLE = [
  ["a line feed", "ok\nBcc: victim@example.com"],
  ["a carriage return", "ok\rforged"],
  ["an escape sequence", "ok \u001b[31mred"],
  ["a right-to-left override", "invoice\u202Egpj.exe"],
  ["a right-to-left isolate", "a\u2067b"],
] as const;
const INVISIBLE = [
  ["zero-width spaces", "\u200B\u200B"],
  ["a Hangul filler", "\u3164"],
  ["a blank Braille pattern", "\u2800\u2800"],
  ["a word joiner and soft hyphen", "\u2060\u00AD"],
] as const;

describe("one line of printable, visible text", () => {
  it.each(UNPRINTABLE)("refuses %s", (_what, text) => {
    expect(printableLineProblem(text)).toMatch(/one line of printable text/);
  });
  it.each(INVISIBLE)("refuses %s alone", (_what, text) => {
    expect(printableLineProblem(text)).toMatch(/visible text/);
  });
  it("accepts ordinary text in any script, emoji, and invisible characters next to visible ones", () => {
    for (const text of ["Acme Corp", "Société Générale", "株式会社アクメ", "שלום", "Acme 🚀", "Acme\u200BCorp", "upgrade for Q3 (ticket #42)"]) expect(printableLineProblem(text), text).toBeNull();
  });
});

describe("the body's nesting depth", () => {
  it("counts arrays and objects, not brackets inside strings or after escaped quotes", () => {
    expect(nestsDeeperThan("[".repeat(3) + "]".repeat(3), 3)).toBe(false);
    expect(nestsDeeperThan("[".repeat(4) + "]".repeat(4), 3)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":{"c":{}}}}', 3)).toBe(true);
    expect(nestsDeeperThan(JSON.stringify({ a: "[[[[[[{{{{{", b: 'x\\"[[[[[[' }), 3)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ a: "\\", b: [[[[1]]]] }), 3)).toBe(true);
    expect(nestsDeeperThan("[[1],[2],[3],[4]]", 2)).toBe(false);
  });
});

const pg = await probePostgres();

describe.skipIf(!pg.available)("bad input to the running service", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let tenant: { id: string; slug: string };
  let pendingChangeId: string;
  const app = () => service.app;

  beforeAll(async () => {
    db = await freshDatabase();
    // No worker: the tenant and a change awaiting review are set up in the database, so that
    // these checks of input do not depend on the engine provisioning anything.
    service = await startService(db.url, { MATIH_WORKER: "false" });
    const created = await app().inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("badinput") });
    expect(created.statusCode, created.body).toBe(202);
    tenant = created.json().tenant;
    await app().db.query("UPDATE provisioning_runs SET status = 'SUCCEEDED', completed_at = now() WHERE tenant_id = $1", [tenant.id]);
    await app().db.query("UPDATE tenants SET status = 'ACTIVE' WHERE id = $1", [tenant.id]);
    const change = await app().inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { tier: "professional", reason: "capacity for Q3" } });
    expect(change.statusCode, change.body).toBe(202);
    pendingChangeId = change.json().id;
    await app().db.query("UPDATE provisioning_runs SET status = 'SUCCEEDED', completed_at = now() WHERE change_id = $1", [pendingChangeId]);
    await app().db.query("UPDATE tenant_changes SET status = 'PENDING_REVIEW' WHERE id = $1", [pendingChangeId]);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  const count = async (table: string) => (await app().db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;

  it("answers a NUL byte in every path and query parameter of every documented route with 400 naming it", async () => {
    const doc = (await app().inject({ method: "GET", url: "/docs/json" })).json();
    const sample = (path: string, name: string) => (name === "changeId" ? pendingChangeId : path.startsWith("/api/v1/drift/runs") ? randomUUID() : tenant.slug);
    const cases: { method: string; url: string; part: string; field: string }[] = [];
    for (const [path, operations] of Object.entries<Record<string, { parameters?: { in: string; name: string }[] }>>(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const parameters = operation.parameters ?? [];
        const url = (nul: string | null, value = "%00") => path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === nul ? value : encodeURIComponent(sample(path, name))));
        for (const { name } of parameters.filter((p) => p.in === "path")) {
          cases.push({ method, url: url(name), part: "params", field: name });
          cases.push({ method, url: url(name, "a%00b"), part: "params", field: name });
        }
        // Every documented query parameter, and one the route does not know.
        for (const name of [...parameters.filter((p) => p.in === "query").map((p) => p.name), "unlisted"]) {
          cases.push({ method, url: `${url(null)}?${name}=%00`, part: "querystring", field: name });
          cases.push({ method, url: `${url(null)}?${name}=x%00y`, part: "querystring", field: name });
        }
      }
    }
    // Every route of the document was swept (29 today), with its parameters.
    expect(new Set(cases.map((c) => `${c.method} ${c.url.split(/[?%]/)[0]}`)).size).toBeGreaterThanOrEqual(29);
    expect(cases.some((c) => c.url.includes("/changes/") && c.field === "changeId")).toBe(true);
    expect(cases.some((c) => c.url.startsWith("/api/v1/events?type="))).toBe(true);
    expect(cases.some((c) => c.url.startsWith("/api/v1/fleet?search="))).toBe(true);
    const before = { changes: await count("tenant_changes"), runs: await count("provisioning_runs") };
    const wrong: string[] = [];
    for (const c of cases) {
      const res = await app().inject({ method: c.method.toUpperCase(), url: c.url, headers: auth() });
      const body = res.headers["content-type"]?.toString().startsWith("application/json") ? res.json() : null;
      if (res.statusCode !== 400 || body?.message !== `the request ${c.part} is invalid` || body?.details?.[0]?.field !== c.field) {
        wrong.push(`${c.method.toUpperCase()} ${c.url}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect({ changes: await count("tenant_changes"), runs: await count("provisioning_runs") }).toEqual(before);
  });

  it("answers the reported NUL requests with 400 over a real connection too, without a token as well", async () => {
    await app().listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(app().server.address() as { port: number }).port}`;
    for (const path of ["/api/v1/events?type=%00", "/api/v1/fleet?search=%00", `/api/v1/tenants/%00/changes/x`, `/api/v1/tenants/${tenant.slug}/changes/%00`]) {
      for (const headers of [auth(READ_TOKEN), {}]) {
        const res = await fetch(base + path, { headers });
        expect(res.status, path).toBe(400);
        expect((await res.json()).details[0].message).toBe("must not contain NUL characters (\\u0000)");
      }
    }
  });

  it.each(UNPRINTABLE)("refuses a change's reason with %s, and records nothing", async (_what, reason) => {
    const before = await count("tenant_changes");
    const res = await app().inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { tier: "professional", reason } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "invalid_request", details: [{ field: "reason", message: expect.stringMatching(/one line of printable text/) }] });
    expect(await count("tenant_changes")).toBe(before);
  });

  it("refuses a reason of only invisible characters, and still takes a blank one as none", async () => {
    const invisible = await app().inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { reason: "\u200B\u2060" } });
    expect(invisible.statusCode).toBe(400);
    expect(invisible.json().details).toEqual([{ field: "reason", message: "must hold visible text, not only blank or invisible characters" }]);
  });

  it.each(UNPRINTABLE)("refuses a rejection's reason with %s, and leaves the change awaiting review", async (_what, reason) => {
    const res = await app().inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${pendingChangeId}/reject`, headers: auth(), payload: { reason } });
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0].field).toBe("reason");
    const change = (await app().inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${pendingChangeId}`, headers: auth() })).json();
    expect(change.status).toBe("PENDING_REVIEW");
    expect(change.decidedBy).toBeNull();
  });

  it.each(INVISIBLE)("refuses a display name of only %s", async (_what, displayName) => {
    const before = await count("tenants");
    const res = await app().inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("invisible", "free", { displayName }) });
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual([{ field: "displayName", message: "must hold visible text, not only blank or invisible characters" }]);
    expect(await count("tenants")).toBe(before);
  });

  it.each([
    ["POST", "/api/v1/tenants", () => "[".repeat(32_000) + "]".repeat(32_000)],
    ["POST", "/api/v1/tenants/badinput/simulated-drift", () => `{"kind":"edit","resource":"x","path":"a","value":${"[".repeat(32_000)}${"]".repeat(32_000)}}`],
    ["POST", "/api/v1/tenants/badinput/changes", () => `{"reason":${"[".repeat(32_000)}${"]".repeat(32_000)}}`],
    ["POST", "/api/v1/tenants/badinput/rollback", () => "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1)],
  ])("answers a body nested too deep with 400 body_too_deep (%s %s)", async (method, url, payload) => {
    const res = await app().inject({ method: method as "POST", url, headers: { ...auth(), "content-type": "application/json" }, payload: payload() });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ code: "body_too_deep", message: `the request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels` });
  });

  it("still takes a body nested as deep as allowed", async () => {
    const deep = "[".repeat(MAX_JSON_DEPTH - 1) + "1" + "]".repeat(MAX_JSON_DEPTH - 1);
    const res = await app().inject({ method: "POST", url: `/api/v1/tenants/${tenant.slug}/simulated-drift`, headers: { ...auth(), "content-type": "application/json" }, payload: `{"kind":"edit","resource":"nope","path":"a","value":${deep}}` });
    expect(res.json().code).not.toBe("body_too_deep");
    expect(res.statusCode).toBeLessThan(500);
  });

  it.each(["/readyz?probe=1", "/metrics?x=1", "/readyz?", "/api/v1/tenants?limit=1"])("keeps Cache-Control: no-store on %s", async (url) => {
    const res = await app().inject({ method: "GET", url, headers: auth(READ_TOKEN) });
    expect(res.statusCode).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
  });
});
