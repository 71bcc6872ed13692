/**
 * The dashboard's files as the service serves them, without a database: the
 * routes on a bare Fastify instance with the real authentication plugin.
 */
import { gunzipSync } from "node:zlib";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import authPlugin from "../../server/plugins/auth.ts";
import adminRoutes, { DASHBOARD_CSP } from "../../server/routes/admin.ts";
import { ErrorResponse } from "../../api/schemas.ts";

describe("the admin dashboard's files", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    app.addSchema(ErrorResponse);
    await app.register(authPlugin, { tokens: [{ token: "admin-token-0123456789", scope: "admin", principal: "admin" }] });
    await app.register(adminRoutes, { settings: resolvePlatformSettings() });
    await app.ready();
  });
  afterAll(() => app?.close());

  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: "GET", url, headers });

  it("serves the page without a token, under a policy that allows no inline script or style and nothing from another origin", async () => {
    const res = await get("/admin");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).toContain("style-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = res.body;
    // Every script has a src on this origin; no inline script, no style element or attribute.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => [m[1]!.trim(), m[2]!.trim()])).toEqual([['type="module" src="/admin/app.js"', ""]]);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(html.match(/(?:src|href)="([^"]+)"/g)).toEqual(['href="data:,"', 'href="/admin/app.css"', 'src="/admin/app.js"']);
    expect((await get("/admin/")).headers.location).toBe("/admin");
  });

  it("bundles the scripts into one module with lit-html inside, asks nothing of another origin and evaluates no strings", async () => {
    const res = await get("/admin/app.js");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const js = res.body;
    expect(js).not.toMatch(/^\s*import\s|\bimport\(|from\s*"[^".]/m);
    expect(js).not.toMatch(/https?:\/\//);
    expect(js).not.toMatch(/\beval\(|new Function\(/);
    expect(js).toContain("lit-html");
    expect(js).toContain("/ws/provisioning");
    expect(js).toContain("sessionStorage");
    expect(js).not.toContain("localStorage");
  });

  it("sends gzip to browsers that accept it, with an ETag that answers 304 when nothing changed", async () => {
    const plain = await get("/admin/app.css");
    const zipped = await get("/admin/app.css", { "accept-encoding": "gzip, deflate, br" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toBe("accept-encoding");
    expect(gunzipSync(zipped.rawPayload).toString()).toBe(plain.body);
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);
    const etag = String(plain.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect((await get("/admin/app.css", { "if-none-match": etag })).statusCode).toBe(304);
    expect((await get("/admin/app.css", { "if-none-match": '"something-else"' })).statusCode).toBe(200);
  });

  it("keeps the whole page light: under 40 KB transferred for the page, script and stylesheet together", async () => {
    let transferred = 0;
    for (const url of ["/admin", "/admin/app.js", "/admin/app.css"]) transferred += (await get(url, { "accept-encoding": "gzip" })).rawPayload.length;
    expect(transferred).toBeGreaterThan(5_000);
    expect(transferred).toBeLessThan(40_000);
  });

  it("answers the session read only with a valid token", async () => {
    expect((await get("/api/v1/session")).statusCode).toBe(401);
    expect((await get("/api/v1/session", { authorization: "Bearer admin-token-0123456789" })).json()).toEqual({ principal: "admin", scope: "admin" });
  });
});
