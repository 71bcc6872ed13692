/**
 * Who gets in, and what they learn: slugs never mistakable for ids, strong
 * tokens, brute-force protection, what public routes reveal, security headers,
 * idempotency keys per token with expiry, and inspection runs that always end.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { randomBytes, randomUUID } from "node:crypto";
import { loadServiceConfig, ServiceConfigError } from "../../server/config.ts";
import { tokenWeakness } from "../../server/security/token-rules.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, startService, tenantRequest, waitForStatus, settled, type TestService } from "../support/service.ts";

const pgProbe = await probePostgres();

/** A second admin token, as during a rotation. */
const SECOND_ADMIN_TOKEN = "test-other-admin-Jh2kL9mN4bV7cX1zQ5wE8r";

describe("bearer token rules", () => {
  it.each([
    ["sixteen equal letters", "aaaaaaaaaaaaaaaa"],
    ["a word and digits", "password12345678"],
    ["32 equal letters", "a".repeat(32)],
    ["a repeated word and digits", "password12345678password12345678"],
    ["a keyboard walk", "qwertyuiopasdfghjklzxcvbnm123456"],
    ["a passphrase of common words", "correct-horse-battery-staple-2026"],
    // Phrases of ordinary words: caught by the English dictionaries and by the share of a token's characters in words.
    ["a pangram run together", "thequickbrownfoxjumpsoverthelazydog"],
    ["a sentence about the token", "mysupersecretadmintokenforproduction"],
    ["the pangram in l33t with capitals", "Th3Qu1ckBr0wnF0xJumps0v3rTh3L4zyD0g"],
    ["six nouns", "elephantgiraffeumbrellatelescopemountainriver"],
  ])("refuses %s as an admin or read token, stating the rule without echoing the token", (_what, token) => {
    for (const name of ["MATIH_ADMIN_TOKEN", "MATIH_READ_TOKENS"]) {
      let problems: readonly string[] = [];
      try {
        loadServiceConfig({ [name]: token });
      } catch (error) {
        expect(error).toBeInstanceOf(ServiceConfigError);
        problems = (error as ServiceConfigError).problems;
      }
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`${name} entry 1`);
      expect(problems[0]).toContain("at least 32 characters and at least 10^25 estimated guesses");
      expect(problems[0]).not.toContain(token);
    }
  });

  it("says why a phrase that zxcvbn alone would pass is refused: most of its characters are dictionary words", () => {
    expect(tokenWeakness("thequickbrownfoxjumpsoverthelazydog")).toMatch(/^is mostly dictionary words \(\d+ of its 35 characters\); it needs at least 32 characters/);
    expect(tokenWeakness("mysupersecretadmintokenforproduction")).toMatch(/^is too easy to guess \(about 10\^2[0-4] guesses\)/);
  });

  it("accepts random tokens such as `openssl rand` makes, in the usual encodings, and several admin tokens for a rotation as one principal", () => {
    const random = [
      ...Array.from({ length: 4 }, () => randomBytes(32).toString("base64")),
      ...Array.from({ length: 4 }, () => randomBytes(16).toString("hex")),
      ...Array.from({ length: 4 }, () => randomBytes(24).toString("base64url")),
      `${randomUUID()}${randomUUID()}`,
    ];
    expect(random.filter((token) => tokenWeakness(token) !== null)).toEqual([]);
    const config = loadServiceConfig({ MATIH_ADMIN_TOKEN: `${ADMIN_TOKEN},${SECOND_ADMIN_TOKEN}`, MATIH_READ_TOKENS: READ_TOKEN });
    expect(config.tokens.map((t) => [t.principal, t.scope])).toEqual([["admin", "admin"], ["admin", "admin"], ["reader-1", "read"]]);
  });
});

describe("trusted proxies", () => {
  it("trusts no X-Forwarded-For by default, and takes addresses, ranges or a hop count", () => {
    const base = { MATIH_ADMIN_TOKEN: ADMIN_TOKEN };
    expect(loadServiceConfig(base).trustProxy).toBe(false);
    expect(loadServiceConfig({ ...base, MATIH_TRUST_PROXY: " 10.0.0.5, 10.1.0.0/16 ,fd00::/8" }).trustProxy).toBe("10.0.0.5,10.1.0.0/16,fd00::/8");
    expect(loadServiceConfig({ ...base, MATIH_TRUST_PROXY: "2" }).trustProxy).toBe(2);
  });

  it.each(["true", "*", "10.0.0.0/33", "proxy.internal", "0", "11"])("refuses MATIH_TRUST_PROXY=%s, saying what it takes", (value) => {
    expect(() => loadServiceConfig({ MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_TRUST_PROXY: value })).toThrow(
      `MATIH_TRUST_PROXY must be the proxies' addresses or CIDR ranges, comma-separated (such as 10.0.0.5,10.1.0.0/16), or how many proxies stand in front (1 to 10); not true, which would let any client name its own address; got ${JSON.stringify(value)}`,
    );
  });
});

describe.skipIf(!pgProbe.available)("the failed-authentication limit behind a proxy", () => {
  it("counts per forwarded client behind a trusted proxy, and ignores a forwarded address from anyone else", async () => {
    const db = await freshDatabase();
    const behindProxy = await startService(db.url, { MATIH_AUTH_FAILURES_PER_MINUTE: "3", MATIH_TRUST_PROXY: "10.0.0.5" });
    try {
      const via = (remoteAddress: string, forwardedFor: string, token: string) =>
        behindProxy.app.inject({ method: "GET", url: "/api/v1/tenants", headers: { ...auth(token), "x-forwarded-for": forwardedFor }, remoteAddress });
      // Through the proxy: one client's failures block that client only, not everyone behind the proxy.
      for (let i = 0; i < 3; i++) expect((await via("10.0.0.5", "198.51.100.7", `wrong-${i}`)).statusCode).toBe(401);
      expect((await via("10.0.0.5", "198.51.100.7", "wrong-3")).statusCode).toBe(429);
      expect((await via("10.0.0.5", "198.51.100.8", "wrong-4")).statusCode).toBe(401);
      // Not through the proxy: a forwarded address of the client's own choosing is not believed, so it counts for the connection's address.
      for (let i = 0; i < 3; i++) expect((await via("192.0.2.9", `203.0.113.${i}`, `wrong-${i}`)).statusCode).toBe(401);
      expect((await via("192.0.2.9", "203.0.113.99", "wrong-3")).statusCode).toBe(429);
      // A right token gets in from a blocked address all the same.
      expect((await via("192.0.2.9", "203.0.113.99", ADMIN_TOKEN)).statusCode).toBe(200);
    } finally {
      await behindProxy.close();
      await db.drop();
    }
  });
});

describe.skipIf(!pgProbe.available)("security of the running service", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let client: pg.Client;
  const logLines: string[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_ADMIN_TOKEN: `${ADMIN_TOKEN},${SECOND_ADMIN_TOKEN}`, MATIH_AUTH_FAILURES_PER_MINUTE: "5" }, { logLines });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await service?.close();
    await db?.drop();
  });

  const create = (body: object, token = ADMIN_TOKEN, headers: Record<string, string> = {}) =>
    service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(token), ...headers }, payload: body });

  it("refuses a slug shaped like another tenant's id, so lookups by that id reach only that tenant", async () => {
    const victim = (await create(tenantRequest("victim"))).json().tenant;
    await waitForStatus(service.app, victim.id, settled);
    const impostor = await create(tenantRequest(victim.id));
    expect(impostor.statusCode).toBe(400);
    expect(impostor.json().details).toContainEqual({ field: "slug", message: "must not look like a UUID (tenants are looked up by id or slug in the same place)" });
    const { rows } = await client.query(`SELECT slug, status FROM tenants ORDER BY created_at`);
    expect(rows).toEqual([{ slug: "victim", status: "ACTIVE" }]);
    const byId = await service.app.inject({ method: "GET", url: `/api/v1/tenants/${victim.id}`, headers: auth() });
    expect(byId.json()).toMatchObject({ id: victim.id, slug: "victim", status: "ACTIVE" });
  });

  it("refuses a display name with a line break, so no attacker-chosen line reaches a mail", async () => {
    const res = await create(tenantRequest("crlf", "free", { displayName: "Acme\r\nYour password expired, log in at https://evil.example" }));
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual([{ field: "displayName", message: "must be one line of printable text (no line breaks, control or direction-override characters)" }]);
    expect((await client.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n).toBe(1 + 1); // only victim's event and mail
  });

  it("answers /readyz with a bare status without a token, and with the checks' details for a read token", async () => {
    const bare = await service.app.inject({ method: "GET", url: "/readyz" });
    expect(bare.statusCode).toBe(200);
    expect(bare.json()).toEqual({ ready: true });
    expect(bare.body).not.toContain(service.dataDir);
    const detailed = await service.app.inject({ method: "GET", url: "/readyz", headers: auth(READ_TOKEN) });
    expect(Object.keys(detailed.json().checks).sort()).toEqual(["database", "engine", "kafka", "mail"]);
    expect(detailed.json().checks.mail.detail).toMatch(/no SMTP settings/);
    expect(detailed.body).not.toContain(service.dataDir);
  });

  it("keeps /metrics (queue depth, backlog) behind a read token", async () => {
    const anonymous = await service.app.inject({ method: "GET", url: "/metrics" });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.body).not.toContain("matih_queue_depth");
    const reader = await service.app.inject({ method: "GET", url: "/metrics", headers: auth(READ_TOKEN) });
    expect(reader.statusCode).toBe(200);
    expect(reader.body).toMatch(/matih_queue_depth\{state="queued"\}/);
  });

  it("sends nosniff everywhere, no-store on API answers and a strict content security policy on /docs", async () => {
    const list = await service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth() });
    expect(list.headers["x-content-type-options"]).toBe("nosniff");
    expect(list.headers["cache-control"]).toBe("no-store");
    const health = await service.app.inject({ method: "GET", url: "/healthz" });
    expect(health.headers["x-content-type-options"]).toBe("nosniff");
    const docs = await service.app.inject({ method: "GET", url: "/docs" });
    expect(docs.statusCode).toBe(200);
    const csp = String(docs.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-eval|https:/);
  });

  it("scopes an idempotency key to the token that used it", async () => {
    const first = await create(tenantRequest("keyone"), ADMIN_TOKEN, { "idempotency-key": "signup-1" });
    const other = await create(tenantRequest("keytwo"), SECOND_ADMIN_TOKEN, { "idempotency-key": "signup-1" });
    expect(first.statusCode).toBe(202);
    expect(other.statusCode).toBe(202);
    expect(other.headers["idempotent-replayed"]).toBeUndefined();
    expect(other.json().tenant.id).not.toBe(first.json().tenant.id);
    const replay = await create(tenantRequest("keyone"), ADMIN_TOKEN, { "idempotency-key": "signup-1" });
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json().tenant.id).toBe(first.json().tenant.id);
    await waitForStatus(service.app, first.json().tenant.id, settled);
    await waitForStatus(service.app, other.json().tenant.id, settled);
  });

  it("forgets an idempotency key after 24 hours: replaying it after a DELETE then asks for a new tenant", async () => {
    const first = (await create(tenantRequest("expiring"), ADMIN_TOKEN, { "idempotency-key": "signup-2" })).json().tenant;
    await waitForStatus(service.app, first.id, settled);
    await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${first.id}?confirm=expiring`, headers: auth() });
    await waitForStatus(service.app, first.id, (s) => s.status === "DELETED");
    const within = await create(tenantRequest("expiring"), ADMIN_TOKEN, { "idempotency-key": "signup-2" });
    expect(within.headers["idempotent-replayed"]).toBe("true");
    await client.query(`UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute' WHERE key = 'signup-2'`);
    const after = await create(tenantRequest("expiring"), ADMIN_TOKEN, { "idempotency-key": "signup-2" });
    expect(after.statusCode).toBe(202);
    expect(after.headers["idempotent-replayed"]).toBeUndefined();
    expect(after.json().tenant).toMatchObject({ slug: "expiring", status: "PROVISIONING" });
    expect(after.json().tenant.id).not.toBe(first.id);
    await waitForStatus(service.app, after.json().tenant.id, settled);
  });

  it("ends a preview run as FAILED when the engine throws, and keeps only the newest 20 inspection runs without phase rows", async () => {
    const tenant = (await create(tenantRequest("inspected"))).json().tenant;
    await waitForStatus(service.app, tenant.id, settled);
    const engine = service.app.engine as { preview: (...args: any[]) => Promise<unknown> };
    const real = engine.preview.bind(engine);
    try {
      engine.preview = async () => {
        throw new Error("the engine's worker could not start");
      };
      const broken = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: {} });
      expect(broken.statusCode).toBe(500);
      expect(broken.body).not.toContain("worker could not start");
      const { rows } = await client.query(`SELECT status, error FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'preview'`, [tenant.id]);
      expect(rows).toEqual([{ status: "FAILED", error: "the engine could not run the preview" }]);

      // The real engine answers once; its answer is replayed so that 24 calls stay quick.
      let recorded: unknown;
      engine.preview = async (...args: any[]) => (recorded ??= await real(...args));
      for (let i = 0; i < 24; i++) {
        const res = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: {} });
        expect(res.statusCode).toBe(200);
      }
    } finally {
      engine.preview = real;
    }
    const runs = await client.query(`SELECT status, count(*)::int AS n FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'preview' GROUP BY status`, [tenant.id]);
    expect(runs.rows).toEqual([{ status: "SUCCEEDED", n: 20 }]);
    const phases = await client.query(`SELECT count(*)::int AS n FROM run_phases p JOIN provisioning_runs r ON r.id = p.run_id WHERE r.tenant_id = $1 AND r.kind = 'preview'`, [tenant.id]);
    expect(phases.rows[0].n).toBe(0);
    // Every call is still in the audit log.
    const audit = await client.query(`SELECT count(*)::int AS n FROM provisioning_audit_logs WHERE tenant_id = $1 AND details->>'kind' = 'preview'`, [tenant.id]);
    expect(audit.rows[0].n).toBe(25);
  });

  it("answers 429 to wrong tokens after 5 failed authentications from one address, still lets right tokens from it in, logs it at warn, and lets other addresses in", async () => {
    const from = (remoteAddress: string, token: string) =>
      service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth(token), remoteAddress });
    for (let i = 0; i < 5; i++) expect((await from("10.9.8.7", `wrong-token-${i}`)).statusCode).toBe(401);
    const blocked = await from("10.9.8.7", "wrong-token-again");
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect(blocked.headers.connection).toBe("close");
    // One script's typo must not lock out everyone else sharing the address (a proxy, a build host): right tokens still get in.
    expect((await from("10.9.8.7", ADMIN_TOKEN)).statusCode).toBe(200);
    expect((await from("10.9.8.7", READ_TOKEN)).statusCode).toBe(200);
    expect((await from("10.9.8.7", "wrong-token-after")).statusCode).toBe(429);
    expect((await from("10.9.8.8", ADMIN_TOKEN)).statusCode).toBe(200);
    const warnings = logLines.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && l.client === "10.9.8.7");
    expect(warnings.map((w) => w.msg)).toEqual([...Array(4).fill("authentication failed"), "authentication failed 5 times in a minute: client refused for 60 s"]);
    expect(warnings.at(-1)).toMatchObject({ client: "10.9.8.7", blocked: true });
    expect(logLines.join("\n")).not.toContain("wrong-token");
  });

  it("refuses a token that differs from a valid one only in letter case", async () => {
    const swapped = (token: string) => [...token].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("");
    for (const token of [ADMIN_TOKEN.toUpperCase(), ADMIN_TOKEN.toLowerCase(), swapped(ADMIN_TOKEN), swapped(READ_TOKEN)]) {
      expect(token).not.toBe(ADMIN_TOKEN);
      const res = await service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth(token), remoteAddress: "10.9.7.1" });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe("unauthorized");
    }
    // The same letters in the right case are let in from that address.
    expect((await service.app.inject({ method: "GET", url: "/api/v1/tenants", headers: auth(ADMIN_TOKEN), remoteAddress: "10.9.7.1" })).statusCode).toBe(200);
  });
});
