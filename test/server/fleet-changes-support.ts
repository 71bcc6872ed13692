/** Helpers of the fleet change tests (test/server/fleet-changes*.test.ts). */
import { expect } from "vitest";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";
import { sql } from "../support/postgres.ts";
export { sql };

export type App = TestService["app"];

/**
 * A settings change that lands differently across a mixed fleet: the
 * ai-service image tag is a Helm release value of every tenant that has its
 * services (phase 3 on), and PgBouncer runs as a Deployment only where a
 * tenant has a pool of its own (professional); a tenant stopped at phase 2 has neither.
 */
export const MIXED_PATCH = { images: { tags: { "ai-service": "2.0.0" }, pgbouncer: "bitnamilegacy/pgbouncer:1.24.2" } };

/** Four tenants: two free, one professional, one free stopped after phase 2. */
export const MIXED_FLEET = [
  { slug: "alpha", tier: "free" },
  { slug: "bravo", tier: "free" },
  { slug: "charlie", tier: "professional" },
  { slug: "delta", tier: "free", lastPhase: 2 },
] as const;

export async function createFleet(app: App, fleet: readonly { slug: string; tier: string; lastPhase?: number }[] = MIXED_FLEET): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const t of fleet) {
    const res = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(t.slug, t.tier, t.lastPhase ? { lastPhase: t.lastPhase } : {}) });
    expect(res.statusCode, res.body).toBe(202);
    ids[t.slug] = res.json().tenant.id;
  }
  for (const id of Object.values(ids)) expect((await waitForStatus(app, id, settled)).status).toBe("ACTIVE");
  return ids;
}

export async function propose(app: App, body: object, token = ADMIN_TOKEN): Promise<any> {
  const res = await app.inject({ method: "POST", url: "/api/v1/fleet/changes", headers: auth(token), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  expect(res.headers.location).toBe(`/api/v1/fleet/changes/${res.json().id}`);
  return res.json();
}

export const approveFleet = (app: App, id: string, body: object = {}, token = ADMIN_TOKEN) =>
  app.inject({ method: "POST", url: `/api/v1/fleet/changes/${id}/approve`, headers: auth(token), payload: body });

export async function rollout(app: App, id: string): Promise<any> {
  const res = await app.inject({ method: "GET", url: `/api/v1/fleet/rollouts/${id}`, headers: auth() });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Polls the rollout until `done` holds. */
export async function waitForRollout(app: App, id: string, done: (r: any) => boolean, timeoutMs = 45_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = await rollout(app, id);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`rollout ${id} did not settle in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 3000)}`);
}

/** No tenant of the rollout is still being previewed or applied. */
export const quiet = (r: any) => r.waves.every((w: any) => w.tenants.every((t: any) => t.status !== "PREVIEWING" && t.status !== "APPLYING"));

/** Each tenant's status in the rollout, by slug. */
export const statuses = (r: any): Record<string, string> => Object.fromEntries(r.waves.flatMap((w: any) => w.tenants.map((t: any) => [t.slug, t.status])));


/** A tenant's record in the render store (what was applied to it), as JSON text. */
export async function recordText(databaseUrl: string, slug: string): Promise<string> {
  const [row] = await sql(databaseUrl, "SELECT state FROM render_states WHERE slug = $1", [slug]);
  return JSON.stringify(row?.state ?? null);
}
