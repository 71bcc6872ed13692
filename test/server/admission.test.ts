/**
 * Limits per principal and for the whole service (issue 26, item 7): live
 * tenants and runs queued or running. Every limit is tested with a burst of
 * concurrent requests spread over two service processes on one database (two
 * replicas), and must hold exactly: counting happens under a lock in the
 * transaction that inserts.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig, ServiceConfigError } from "../../server/config.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, startService, tenantRequest, type TestService } from "../support/service.ts";

const ALICE = randomBytes(32).toString("base64url");
const BOB = randomBytes(32).toString("base64url");
/** Two named admins besides `admin`; no worker, so every run stays QUEUED until a test ends it by hand. */
const BASE_ENV = { MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_WORKER: "false", MATIH_WORKERS: "0" };

describe("the limits' settings", () => {
  it("default to no tenant limit and 50 pending runs per principal, 200 in all; 0 turns a limit off", () => {
    expect(loadServiceConfig({}).limits).toEqual({ tenantsPerPrincipal: 0, tenants: 0, pendingRunsPerPrincipal: 50, pendingRuns: 200 });
    expect(loadServiceConfig({ MATIH_MAX_TENANTS_PER_PRINCIPAL: "10", MATIH_MAX_TENANTS: "100", MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: "0", MATIH_MAX_PENDING_RUNS: "7" }).limits)
      .toEqual({ tenantsPerPrincipal: 10, tenants: 100, pendingRunsPerPrincipal: 0, pendingRuns: 7 });
  });

  it("refuses what is not a whole number, naming each variable", () => {
    const names = ["MATIH_MAX_TENANTS_PER_PRINCIPAL", "MATIH_MAX_TENANTS", "MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL", "MATIH_MAX_PENDING_RUNS"];
    try {
      loadServiceConfig({ MATIH_MAX_TENANTS_PER_PRINCIPAL: "-1", MATIH_MAX_TENANTS: "lots", MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: "2.5", MATIH_MAX_PENDING_RUNS: "1e9" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ServiceConfigError);
      const problems = (error as ServiceConfigError).problems.join("\n");
      for (const name of names) expect(problems).toContain(name);
    }
  });
});

const pgAvailable = await probePostgres();

/** Two service processes (replicas) on one fresh database, with `env`. */
function useReplicas(env: Record<string, string>) {
  const state: { replicas: TestService[]; db?: Awaited<ReturnType<typeof freshDatabase>>; client?: pg.Client } = { replicas: [] };
  beforeAll(async () => {
    state.db = await freshDatabase();
    // One after the other: both migrate the same database.
    state.replicas.push(await startService(state.db.url, { ...BASE_ENV, ...env }));
    state.replicas.push(await startService(state.db.url, { ...BASE_ENV, ...env }));
    state.client = new pg.Client({ connectionString: state.db.url });
    await state.client.connect();
  });
  afterAll(async () => {
    await state.client?.end();
    for (const replica of state.replicas) await replica.close();
    await state.db?.drop();
  });
  const sql = async <T = Record<string, unknown>>(text: string, values: unknown[] = []) => (await state.client!.query(text, values)).rows as T[];
  return {
    /** The i-th request goes to replica i mod 2. */
    replica: (i: number) => state.replicas[i % 2]!.app,
    sql,
    async liveTenants(principal?: string) {
      const rows = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM tenants WHERE status <> 'DELETED'${principal ? " AND requested_by = $1" : ""}`, principal ? [principal] : []);
      return rows[0]!.n;
    },
    async pendingRuns(principal?: string) {
      const rows = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM provisioning_runs WHERE status IN ('QUEUED', 'RUNNING')${principal ? " AND requested_by = $1" : ""}`, principal ? [principal] : []);
      return rows[0]!.n;
    },
    /** Ends a tenant's queued run as a worker would have, leaving the tenant `status`. */
    async finishRun(tenantId: string, status: "FAILED" | "ACTIVE") {
      await sql(`UPDATE provisioning_runs SET status = $2, completed_at = now() WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING')`, [tenantId, status === "ACTIVE" ? "SUCCEEDED" : "FAILED"]);
      await sql(`UPDATE tenants SET status = $2 WHERE id = $1`, [tenantId, status]);
    },
  };
}

type Answer = { who: string; statusCode: number; body: any };

/** `perPrincipal` creates for each of alice and bob, interleaved and sent at once over both replicas. */
async function burst(replica: (i: number) => any, perPrincipal: number, prefix: string, headers: (i: number) => Record<string, string> = () => ({})): Promise<Answer[]> {
  const requests = Array.from({ length: perPrincipal * 2 }, (_, i) => {
    const who = i % 4 < 2 ? "alice" : "bob";
    const token = who === "alice" ? ALICE : BOB;
    return replica(i).inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(token), ...headers(i) }, payload: tenantRequest(`${prefix}-${i}`) })
      .then((res: any) => ({ who, statusCode: res.statusCode, body: res.json() }));
  });
  return Promise.all(requests);
}

const accepted = (answers: Answer[], who?: string) => answers.filter((a) => a.statusCode === 202 && (who === undefined || a.who === who));

describe.skipIf(!pgAvailable.available)("live tenants per principal, with per-principal limits alone (each principal's own lock)", () => {
  const env = useReplicas({ MATIH_MAX_TENANTS_PER_PRINCIPAL: "3", MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: "0", MATIH_MAX_PENDING_RUNS: "0" });

  it("lets exactly 3 of 12 concurrent requests per principal through, over two replicas, and refuses the rest with 409 and the limit", async () => {
    const answers = await burst(env.replica, 12, "tpp");
    expect(accepted(answers, "alice")).toHaveLength(3);
    expect(accepted(answers, "bob")).toHaveLength(3);
    const refused = answers.filter((a) => a.statusCode !== 202);
    expect(refused).toHaveLength(18);
    for (const r of refused) {
      expect(r.statusCode).toBe(409);
      expect(r.body.code).toBe("tenant_limit_reached");
      expect(r.body.message).toBe(`${r.who} already has 3 live tenants, the most one principal may have (MATIH_MAX_TENANTS_PER_PRINCIPAL=3); tear one down or have an operator raise the limit`);
      expect(r.body.details).toEqual({ limit: "MATIH_MAX_TENANTS_PER_PRINCIPAL", max: 3, current: 3, principal: r.who });
    }
    // A refusal leaves nothing behind: no tenant, no run.
    expect(await env.liveTenants("alice")).toBe(3);
    expect(await env.liveTenants("bob")).toBe(3);
    expect(await env.pendingRuns()).toBe(6);
  });

  it("counts live tenants only: a DELETED tenant frees its place", async () => {
    const [one] = await env.sql<{ id: string }>(`SELECT id FROM tenants WHERE requested_by = 'alice' LIMIT 1`);
    await env.sql(`UPDATE provisioning_runs SET status = 'SUCCEEDED' WHERE tenant_id = $1`, [one!.id]);
    await env.sql(`UPDATE tenants SET status = 'DELETED', deleted_at = now() WHERE id = $1`, [one!.id]);
    const again = await env.replica(1).inject({ method: "POST", url: "/api/v1/tenants", headers: auth(ALICE), payload: tenantRequest("tpp-again") });
    expect(again.statusCode).toBe(202);
    const refused = await env.replica(0).inject({ method: "POST", url: "/api/v1/tenants", headers: auth(ALICE), payload: tenantRequest("tpp-more") });
    expect(refused.statusCode).toBe(409);
  });
});

describe.skipIf(!pgAvailable.available)("live tenants in all", () => {
  const env = useReplicas({ MATIH_MAX_TENANTS: "5", MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: "0", MATIH_MAX_PENDING_RUNS: "0" });

  it("lets exactly 5 of 24 concurrent requests from two principals through, over two replicas, and says it is the service's limit", async () => {
    const answers = await burst(env.replica, 12, "tt");
    expect(accepted(answers)).toHaveLength(5);
    const refused = answers.filter((a) => a.statusCode !== 202);
    for (const r of refused) {
      expect(r.statusCode).toBe(409);
      expect(r.body).toMatchObject({ code: "tenant_limit_reached", details: { limit: "MATIH_MAX_TENANTS", max: 5, current: 5 } });
      expect(r.body.message).toBe("the service already has 5 live tenants, the most it takes (MATIH_MAX_TENANTS=5); tear one down or have an operator raise the limit");
    }
    expect(await env.liveTenants()).toBe(5);
  });
});

describe.skipIf(!pgAvailable.available)("runs queued or running, per principal and in all (the service-wide lock)", () => {
  const env = useReplicas({ MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL: "4", MATIH_MAX_PENDING_RUNS: "5" });
  let answers: Answer[] = [];
  const ids = (who?: string) => accepted(answers, who).map((a) => a.body.tenant.id as string);

  it("lets exactly 5 of 24 concurrent requests through, at most 4 per principal, and refuses the rest with 429", async () => {
    answers = await burst(env.replica, 12, "pr", (i) => ({ "idempotency-key": `pr-${i}` }));
    expect(accepted(answers)).toHaveLength(5);
    expect(accepted(answers, "alice").length).toBeLessThanOrEqual(4);
    expect(accepted(answers, "bob").length).toBeLessThanOrEqual(4);
    for (const r of answers.filter((a) => a.statusCode !== 202)) {
      expect(r.statusCode).toBe(429);
      expect(r.body.code).toBe("too_many_pending_runs");
      expect(r.body.message).toMatch(/runs queued or running, the most .* \(MATIH_MAX_PENDING_RUNS(_PER_PRINCIPAL)?=[45]\); nothing was queued: try again once some have finished$/);
    }
    expect(await env.pendingRuns()).toBe(5);
    expect(await env.liveTenants()).toBe(5);
  });

  it("answers a request sent again with the same Idempotency-Key as before, even at the limit", async () => {
    const first = answers.findIndex((a) => a.statusCode === 202);
    const who = answers[first]!.who === "alice" ? ALICE : BOB;
    const again = await env.replica(first + 1).inject({ method: "POST", url: "/api/v1/tenants", headers: { ...auth(who), "idempotency-key": `pr-${first}` }, payload: tenantRequest(`pr-${first}`) });
    expect(again.statusCode).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json().tenant.id).toBe(answers[first]!.body.tenant.id);
  });

  it("says when it is one principal's limit", async () => {
    // Bob's runs end: only alice's are pending; she fills her 4.
    for (const id of ids("bob")) await env.finishRun(id, "FAILED");
    const alicePending = await env.pendingRuns("alice");
    for (let i = alicePending; i < 4; i++) {
      const res = await env.replica(i).inject({ method: "POST", url: "/api/v1/tenants", headers: auth(ALICE), payload: tenantRequest(`pr-alice-${i}`) });
      expect(res.statusCode).toBe(202);
    }
    const refused = await env.replica(0).inject({ method: "POST", url: "/api/v1/tenants", headers: auth(ALICE), payload: tenantRequest("pr-alice-5") });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({
      code: "too_many_pending_runs",
      message: "alice already has 4 runs queued or running, the most one principal may have (MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL=4); nothing was queued: try again once some have finished",
      details: { limit: "MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL", max: 4, current: 4, principal: "alice" },
    });
    // Bob is under his own limit, and the service has room for one more.
    const bob = await env.replica(1).inject({ method: "POST", url: "/api/v1/tenants", headers: auth(BOB), payload: tenantRequest("pr-bob-5") });
    expect(bob.statusCode).toBe(202);
    expect(await env.pendingRuns()).toBe(5);
  });

  it("refuses a retry and a change's preview at the service's limit, but never a teardown", async () => {
    const [failed] = await env.sql<{ id: string; slug: string }>(`SELECT id, slug FROM tenants WHERE requested_by = 'bob' AND status = 'FAILED' LIMIT 1`);
    const retry = await env.replica(0).inject({ method: "POST", url: `/api/v1/tenants/${failed!.id}/provisioning/retry`, headers: auth() });
    expect(retry.statusCode).toBe(429);
    expect(retry.json()).toMatchObject({ code: "too_many_pending_runs", message: "the service already has 5 runs queued or running, the most it takes (MATIH_MAX_PENDING_RUNS=5); nothing was queued: try again once some have finished" });
    expect((await env.sql<{ status: string }>(`SELECT status FROM tenants WHERE id = $1`, [failed!.id]))[0]!.status).toBe("FAILED");

    // The same tenant, ACTIVE now: a change's preview is a queued run too.
    await env.sql(`UPDATE tenants SET status = 'ACTIVE' WHERE id = $1`, [failed!.id]);
    const change = await env.replica(1).inject({ method: "POST", url: `/api/v1/tenants/${failed!.id}/changes`, headers: auth(), payload: { tier: "professional" } });
    expect(change.statusCode).toBe(429);
    expect(change.json().code).toBe("too_many_pending_runs");
    expect(await env.sql(`SELECT 1 FROM tenant_changes WHERE tenant_id = $1`, [failed!.id])).toHaveLength(0);

    const teardown = await env.replica(0).inject({ method: "DELETE", url: `/api/v1/tenants/${failed!.id}?confirm=${failed!.slug}`, headers: auth() });
    expect(teardown.statusCode).toBe(202);
    expect(await env.pendingRuns()).toBe(6);

    // Once runs end, the retry goes through.
    const [first, second] = (await env.sql<{ id: string }>(`SELECT tenant_id AS id FROM provisioning_runs WHERE requested_by = 'alice' AND status = 'QUEUED' LIMIT 2`)).map((r) => r.id);
    await env.finishRun(first!, "FAILED");
    await env.finishRun(second!, "FAILED");
    const later = await env.replica(1).inject({ method: "POST", url: `/api/v1/tenants/${first}/provisioning/retry`, headers: auth() });
    expect(later.statusCode).toBe(202);
  });
});
