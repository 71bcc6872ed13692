/**
 * The fleet capacity check (issue 21, item 5): the tenant and change services
 * refuse with 409 `capacity_exceeded` what would take the fleet past a
 * certificate, address, load-balancer, DNS-zone or connection limit. The
 * services run on two pools of one fresh database (two replicas) with an
 * engine of kind `pulumi` (only real runs count) and a queue that only hands
 * out job ids: no run executes, the tests end runs by hand.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TenantEngine } from "../../automation/index.ts";
import { resolvePlatformSettings, type PlatformSettings } from "../../model/settings.ts";
import type { Tier } from "../../model/tiers.ts";
import type { RunQueue } from "../../server/db/job-queue.ts";
import { migrateDatabase } from "../../server/db/migrate.ts";
import { createPool } from "../../server/db/pool.ts";
import { ChangeService } from "../../server/domain/change-service.ts";
import { ApiError } from "../../server/domain/errors.ts";
import { TenantService } from "../../server/domain/tenant-service.ts";
import { recordPlatformSettingsVersion } from "../../server/domain/platform-settings.ts";
import type { ProgressBus } from "../../server/live/progress-bus.ts";
import { probePostgres } from "../support/postgres.ts";
import { freshDatabase } from "../support/service.ts";

const pgAvailable = await probePostgres();

const tenantRequest = (slug: string, tier: Tier = "free") => ({ slug, displayName: `${slug} Inc`, tier, region: "eastus", adminEmail: `admin@${slug}.example` });

const queue = { enqueue: async () => randomUUID() } as unknown as RunQueue;
const engineOf = (kind: "pulumi" | "render") => ({ kind }) as unknown as TenantEngine;

function useFleet() {
  const state: { db?: Awaited<ReturnType<typeof freshDatabase>>; pools: pg.Pool[] } = { pools: [] };
  beforeAll(async () => {
    state.db = await freshDatabase("matih_capacity");
    await migrateDatabase(state.db.url);
    state.pools = [createPool(state.db.url, 4), createPool(state.db.url, 4)];
  });
  afterAll(async () => {
    for (const pool of state.pools) await pool.end();
    await state.db?.drop();
  });
  const sql = async <T = Record<string, unknown>>(text: string, values: unknown[] = []) => (await state.pools[0]!.query(text, values)).rows as T[];
  return {
    sql,
    /** The pool of replica `i` (of two). */
    pool: (i: number) => state.pools[i % 2]!,
    /** The tenant service of replica `i` (of two), with `capacity` overrides. */
    tenants(i: number, capacity: Record<string, number>, kind: "pulumi" | "render" = "pulumi") {
      const settings = resolvePlatformSettings({ capacity });
      return new TenantService({ pool: state.pools[i % 2]!, queue, engine: engineOf(kind), bus: {} as ProgressBus, settings, maxAttempts: 3 });
    },
    changes(i: number, settings: PlatformSettings) {
      return new ChangeService({ pool: state.pools[i % 2]!, queue, engine: engineOf("pulumi"), changeTtlHours: 24, requireSeparateApprover: false, maxAttempts: 3, settings });
    },
    /** Ends every queued run as a successful worker would, the tenants ACTIVE. */
    async finishAll() {
      await sql(`UPDATE provisioning_runs SET status = 'SUCCEEDED', completed_at = now() WHERE status IN ('QUEUED', 'RUNNING')`);
      await sql(`UPDATE tenants SET status = 'ACTIVE' WHERE status IN ('PROVISIONING', 'UPDATING')`);
    },
  };
}

type Outcome = { ok: true; slug: string } | { ok: false; status: number; code: string; message: string; details: unknown };

async function attempt(call: () => Promise<{ tenant: { slug: string } }>): Promise<Outcome> {
  try {
    return { ok: true, slug: (await call()).tenant.slug };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { ok: false, status: error.statusCode, code: error.code, message: error.message, details: error.details };
  }
}

const create = (fleet: ReturnType<typeof useFleet>, i: number, capacity: Record<string, number>, slug: string, tier: Tier, lastPhase: number) =>
  attempt(() => {
    const service = fleet.tenants(i, capacity);
    return service.create(service.checkRequest({ ...tenantRequest(slug, tier), lastPhase }), "control-plane");
  });

describe.skipIf(!pgAvailable.available)("public IPs per subscription", () => {
  const fleet = useFleet();
  const capacity = { publicIpsPerSubscription: 3 };

  it("lets exactly 3 of 10 concurrent tenants to phase 6 through, over two replicas, and refuses the rest naming the limit, the use and the setting", async () => {
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => create(fleet, i, capacity, `ip-${i}`, "free", 6)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
    const refused = outcomes.filter((o) => !o.ok);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r).toEqual({
        ok: false, status: 409, code: "capacity_exceeded",
        message: "capacity exceeded: public IP addresses held by tenants' ingress controllers would go from 3 to 4, above the limit of 3 (capacity.publicIpsPerSubscription=3); nothing was queued: wait until some are freed or raise the setting once the quota is raised",
        details: { limit: "publicIpsPerSubscription", setting: "capacity.publicIpsPerSubscription", max: 3, current: 3, requested: 1 },
      });
    }
    expect((await fleet.sql<{ n: number }>(`SELECT count(*)::int AS n FROM tenants`))[0]!.n).toBe(3);
  });

  it("still takes a tenant that stops before phase 6, and a render-engine tenant (it holds nothing real)", async () => {
    expect(await create(fleet, 0, capacity, "ip-phase5", "free", 5)).toEqual({ ok: true, slug: "ip-phase5" });
    const render = fleet.tenants(1, capacity, "render");
    expect(await attempt(() => render.create(render.checkRequest({ ...tenantRequest("ip-render"), lastPhase: 10 }), "control-plane"))).toEqual({ ok: true, slug: "ip-render" });
  });

  it("frees an address when its tenant is DELETED", async () => {
    expect(await create(fleet, 0, capacity, "ip-full", "free", 6)).toMatchObject({ ok: false, code: "capacity_exceeded" });
    await fleet.sql(`UPDATE tenants SET status = 'DELETED', deleted_at = now() WHERE id = (SELECT id FROM tenants WHERE slug ~ '^ip-[0-9]$' AND status <> 'DELETED' ORDER BY slug LIMIT 1)`);
    expect(await create(fleet, 0, capacity, "ip-again", "free", 6)).toEqual({ ok: true, slug: "ip-again" });
  });
});

describe.skipIf(!pgAvailable.available)("certificates per week", () => {
  const fleet = useFleet();
  const capacity = { certificatesPerWeek: 2 };

  it("counts each tenant to phase 8 in the last 7 days, a re-provisioned slug again, and forgets issues older than 7 days", async () => {
    expect(await create(fleet, 0, capacity, "cert-a", "free", 10)).toEqual({ ok: true, slug: "cert-a" });
    expect(await create(fleet, 1, capacity, "cert-b", "free", 8)).toEqual({ ok: true, slug: "cert-b" });
    // Phase 7 takes no certificate.
    expect(await create(fleet, 0, capacity, "cert-dns-only", "free", 7)).toEqual({ ok: true, slug: "cert-dns-only" });
    // cert-a torn down and asked for again: a new certificate, and the old one still counts this week.
    await fleet.sql(`UPDATE tenants SET status = 'DELETED', deleted_at = now() WHERE slug = 'cert-a'`);
    const again = await create(fleet, 1, capacity, "cert-a", "free", 10);
    expect(again).toEqual({
      ok: false, status: 409, code: "capacity_exceeded",
      message: "capacity exceeded: TLS certificates issued in the last 7 days (Let's Encrypt allows 50 per registered domain a week) would go from 2 to 3, above the limit of 2 (capacity.certificatesPerWeek=2); nothing was queued: wait until some are freed (certificates leave the count 7 days after issue) or raise the setting once the quota is raised",
      details: { limit: "certificatesPerWeek", setting: "capacity.certificatesPerWeek", max: 2, current: 2, requested: 1 },
    });
    await fleet.sql(`UPDATE provisioning_runs SET created_at = now() - interval '8 days' WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'cert-a')`);
    expect(await create(fleet, 1, capacity, "cert-a", "free", 10)).toEqual({ ok: true, slug: "cert-a" });
  });

  it("counts a change that raises a tenant to phase 8, refused at approval", async () => {
    await fleet.finishAll();
    const settings = resolvePlatformSettings({ capacity });
    const tenant = (await fleet.sql<{ id: string }>(`SELECT id FROM tenants WHERE slug = 'cert-dns-only'`))[0]!;
    const change = await pendingChange(fleet, tenant.id, "free", 10);
    await expect(fleet.changes(0, settings).approve(tenant.id, change, "alice")).rejects.toMatchObject({
      statusCode: 409, code: "capacity_exceeded", details: { limit: "certificatesPerWeek", max: 2, current: 2, requested: 1 },
    });
    expect((await fleet.sql<{ status: string }>(`SELECT status FROM tenant_changes WHERE id = $1`, [change]))[0]!.status).toBe("PENDING_REVIEW");
  });
});

/** A reviewed change of `tenantId` to `tier` and `lastPhase`, awaiting approval. */
async function pendingChange(fleet: ReturnType<typeof useFleet>, tenantId: string, tier: Tier, lastPhase: number): Promise<string> {
  const id = randomUUID();
  await fleet.sql(
    `INSERT INTO tenant_changes (id, tenant_id, status, requested, target_tier, target_phase, created_by, created_at, expires_at, previewed_at, destructive)
     VALUES ($1, $2, 'PENDING_REVIEW', $3, $4, $5, 'bob', now(), now() + interval '1 hour', now(), false)`,
    [id, tenantId, JSON.stringify({ tier, lastPhase }), tier, lastPhase],
  );
  return id;
}

describe.skipIf(!pgAvailable.available)("connections on the shared server", () => {
  const fleet = useFleet();
  // 100 less the 15 reserved: 85 for tenants; a free tenant takes 20 (its role's limit), a professional one 40 (2 PgBouncer replicas x 20).
  const capacity = { sharedServerMaxConnections: 100, sharedServerReservedConnections: 15 };

  it("takes four free tenants (80 connections) and refuses a fifth, naming max_connections and the reserved ones", async () => {
    for (const i of [1, 2, 3, 4]) expect(await create(fleet, i, capacity, `pg-${i}`, "free", 2)).toEqual({ ok: true, slug: `pg-${i}` });
    expect(await create(fleet, 0, capacity, "pg-5", "free", 2)).toEqual({
      ok: false, status: 409, code: "capacity_exceeded",
      message: "capacity exceeded: connections tenants may open on the shared PostgreSQL server would go from 80 to 100, above the limit of 85 (capacity.sharedServerMaxConnections=100 less capacity.sharedServerReservedConnections=15); nothing was queued: wait until some are freed or raise the setting once the quota is raised",
      details: { limit: "sharedServerConnections", setting: "capacity.sharedServerMaxConnections", max: 85, current: 80, requested: 20 },
    });
    // An enterprise tenant has a dedicated server: nothing on the shared one.
    expect(await create(fleet, 0, capacity, "pg-ent", "enterprise", 2)).toEqual({ ok: true, slug: "pg-ent" });
  });

  it("refuses the approval of free -> professional (a pool: +20) and approves free -> enterprise (a dedicated server)", async () => {
    await fleet.finishAll();
    const settings = resolvePlatformSettings({ capacity });
    const id = async (slug: string) => (await fleet.sql<{ id: string }>(`SELECT id FROM tenants WHERE slug = $1`, [slug]))[0]!.id;
    const pro = await pendingChange(fleet, await id("pg-1"), "professional", 2);
    await expect(fleet.changes(0, settings).approve("pg-1", pro, "alice")).rejects.toMatchObject({
      statusCode: 409, code: "capacity_exceeded",
      details: { limit: "sharedServerConnections", setting: "capacity.sharedServerMaxConnections", max: 85, current: 80, requested: 20 },
    });
    const ent = await pendingChange(fleet, await id("pg-2"), "enterprise", 2);
    const approved = await fleet.changes(1, settings).approve("pg-2", ent, "alice");
    expect(approved.change.status).toBe("APPROVED");
    // While that update is queued the tenant still counts at its free tier's 20: the pool change still does not fit.
    const again = await pendingChange(fleet, await id("pg-3"), "professional", 2);
    await expect(fleet.changes(0, settings).approve("pg-3", again, "alice")).rejects.toMatchObject({ code: "capacity_exceeded", details: { current: 80 } });
  });
});

describe.skipIf(!pgAvailable.available)("limits from the current settings version", () => {
  const fleet = useFleet();

  it("a version recorded after the service started sets the limits of its next admission: no restart", async () => {
    // The services started with no DNS-zone limit in their file; a tenant to phase 7 goes through.
    const service = fleet.tenants(0, {});
    const ask = (slug: string) => attempt(() => service.create(service.checkRequest({ ...tenantRequest(slug), lastPhase: 7 }), "control-plane"));
    expect(await ask("zone-a")).toEqual({ ok: true, slug: "zone-a" });
    // Another process records a version with a limit of one zone per subscription.
    const { recorded } = await recordPlatformSettingsVersion(fleet.pool(1), {
      settings: resolvePlatformSettings({ capacity: { dnsZonesPerSubscription: 1 } }), createdBy: "ops@example.com", reason: "the subscription's zone quota",
    });
    expect(recorded).toBe(true);
    // The same service object, started before the version, refuses by it.
    expect(await ask("zone-b")).toMatchObject({ ok: false, status: 409, code: "capacity_exceeded", details: { limit: "dnsZonesPerSubscription", max: 1, current: 1, requested: 1 } });
  });
});
