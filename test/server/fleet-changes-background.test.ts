/**
 * A fleet change previewed tenant by tenant in the background (issue 23), the
 * path of an engine without a batch fleet preview (the Pulumi engine, whose
 * real run is in test/real-run/fleet.real.test.ts). Here the render engine
 * with its batch preview taken away, on real PostgreSQL: the change is
 * recorded PREVIEWING at once (202), each tenant's own preview runs through
 * the engine, the groups equal the batch preview's, and the rollout applies
 * them; a tenant whose preview fails is listed as failed; a change rejected
 * while it previews stops previewing; a service stopped mid-preview leaves
 * the job to the next one, which finishes it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreviewRequest, TenantEngine } from "../../automation/index.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, startService, type TestService } from "../support/service.ts";
import { approveFleet, createFleet, MIXED_PATCH, recordText, sql, statuses, waitForRollout, type App } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

/** What the test does to one tenant's preview: fail it, or hold it until released. */
interface PreviewControl {
  failSlug?: string;
  hold?: Promise<void>;
  /** Only this tenant's preview waits for `hold`; without it, every tenant's does. */
  holdSlug?: string;
  calls: { slug: string; lastPhase: number | undefined; tag: string | undefined }[];
}

/** The engine as chosen, without its batch fleet preview, its per-tenant previews seen (and steered) by the test. */
function tenantByTenant(control: PreviewControl) {
  return (engine: TenantEngine): TenantEngine =>
    new Proxy(engine, {
      get(target, prop, receiver) {
        if (prop === "previewFleet") return undefined;
        if (prop === "preview") {
          return async (request: PreviewRequest) => {
            control.calls.push({ slug: request.spec.slug, lastPhase: request.lastPhase, tag: request.settings.images.tags["ai-service"] });
            if (control.hold && (control.holdSlug === undefined || control.holdSlug === request.spec.slug)) await control.hold;
            if (request.spec.slug === control.failSlug) throw new Error(`preview of ${request.spec.slug} refused by the test`);
            return target.preview(request);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
}

async function proposeInBackground(app: App, body: object): Promise<any> {
  const res = await app.inject({ method: "POST", url: "/api/v1/fleet/changes", headers: auth(ADMIN_TOKEN), payload: body });
  expect(res.statusCode, res.body).toBe(202);
  expect(res.headers.location).toBe(`/api/v1/fleet/changes/${res.json().id}`);
  return res.json();
}

async function waitForChange(app: App, id: string, done: (c: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await app.inject({ method: "GET", url: `/api/v1/fleet/changes/${id}`, headers: auth() })).json();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`fleet change ${id} did not settle in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

const RELEASE = { op: "update", type: "kubernetes:helm.sh/v3:Release", count: 1, paths: ["values.image.tag"] };
const DEPLOYMENT = { op: "update", type: "kubernetes:apps/v1:Deployment", count: 1, paths: ["spec.template.spec.containers[0].image"] };

describe.skipIf(!postgres.available)("a fleet change previewed tenant by tenant in the background", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  const control: PreviewControl = { calls: [] };
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_WORKERS: "1", MATIH_MAX_CONCURRENT_OPERATIONS: "4" }, { wrapEngine: tenantByTenant(control) });
    await createFleet(service.app);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("records the change PREVIEWING at once, previews each tenant on the proposed settings as far as its stack reaches, and groups them as the batch preview does", async () => {
    const { app } = service;
    control.calls.length = 0;
    const proposed = await proposeInBackground(app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0 and PgBouncer 1.24.2" });
    expect(proposed).toMatchObject({ status: "PREVIEWING", previewedAt: null, previewProgress: { done: 0, total: 4 }, previewError: null, preview: { selected: 4, groups: [] } });
    // Awaiting its preview, it cannot be approved.
    expect((await approveFleet(app, proposed.id)).json().code).toBe("change_not_pending");

    const change = await waitForChange(app, proposed.id, (c) => c.status !== "PREVIEWING");
    expect(change).toMatchObject({ status: "PENDING_REVIEW", previewProgress: { done: 4, total: 4 }, previewError: null, destructive: false });
    expect(change.previewedAt).not.toBeNull();
    // The same groups as the render engine's batch preview of this fleet (test/server/fleet-changes.test.ts), as literals.
    expect(change.preview.groups.map((g: any) => ({ tenants: g.tenants, slugs: g.slugs, summary: g.summary, changes: g.changes }))).toEqual([
      { tenants: 2, slugs: ["alpha", "bravo"], summary: "update 1 Release", changes: [RELEASE] },
      { tenants: 1, slugs: ["charlie"], summary: "update 1 Deployment; update 1 Release", changes: [DEPLOYMENT, RELEASE] },
      { tenants: 1, slugs: ["delta"], summary: "no change", changes: [] },
    ]);
    expect(change.preview).toMatchObject({ selected: 4, destructive: [], failed: [], notPreviewed: [] });
    // Each tenant once, on the proposed tag, as far as it was provisioned (delta stopped at phase 2).
    expect([...control.calls].sort((a, b) => a.slug.localeCompare(b.slug))).toEqual([
      { slug: "alpha", lastPhase: 10, tag: "2.0.0" },
      { slug: "bravo", lastPhase: 10, tag: "2.0.0" },
      { slug: "charlie", lastPhase: 10, tag: "2.0.0" },
      { slug: "delta", lastPhase: 2, tag: "2.0.0" },
    ]);
    const audit = await sql(db.url, "SELECT from_status, to_status FROM provisioning_audit_logs WHERE entity = 'fleet' AND details->>'fleetChangeId' = $1 ORDER BY id", [change.id]);
    expect(audit).toEqual([{ from_status: null, to_status: "PREVIEWING" }, { from_status: "PREVIEWING", to_status: "PENDING_REVIEW" }]);

    // Approved, the rollout applies what the preview found, tenant by tenant.
    const approved = await approveFleet(app, change.id, { waves: { canary: 1, growth: 2, concurrency: 2 } });
    expect(approved.statusCode, approved.body).toBe(202);
    const done = await waitForRollout(app, approved.json().id, (r) => r.status === "COMPLETED");
    expect(statuses(done)).toEqual({ alpha: "SUCCEEDED", bravo: "SUCCEEDED", charlie: "SUCCEEDED", delta: "UNCHANGED" });
    expect(await recordText(db.url, "alpha")).toMatch(/"tag":"2\.0\.0"/);
    expect(await recordText(db.url, "charlie")).toContain("bitnamilegacy/pgbouncer:1.24.2");
  });

  it("lists a tenant whose preview failed apart, with its reason, and previews the rest", async () => {
    const { app } = service;
    control.failSlug = "bravo";
    try {
      const proposed = await proposeInBackground(app, { settings: { images: { tags: { "ai-service": "2.1.0" } } }, reason: "ai-service 2.1.0", selector: { tiers: ["free"] } });
      const change = await waitForChange(app, proposed.id, (c) => c.status !== "PREVIEWING");
      expect(change.status).toBe("PENDING_REVIEW");
      expect(change.preview.failed).toEqual([{ tenantId: expect.any(String), slug: "bravo", error: "preview of bravo refused by the test" }]);
      expect(change.preview.groups.map((g: any) => [g.slugs, g.summary])).toEqual([[["alpha"], "update 1 Release"], [["delta"], "no change"]]);
    } finally {
      delete control.failSlug;
    }
  });

  it("stops previewing a change rejected while it previews: it stays REJECTED", async () => {
    const { app } = service;
    let release!: () => void;
    control.hold = new Promise<void>((resolve) => (release = resolve));
    control.calls.length = 0;
    try {
      const proposed = await proposeInBackground(app, { settings: { images: { tags: { "ai-service": "2.2.0" } } }, reason: "ai-service 2.2.0" });
      // The job has started its first preview.
      const deadline = Date.now() + 30_000;
      while (control.calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(control.calls.length).toBeGreaterThan(0);
      const rejected = await app.inject({ method: "POST", url: `/api/v1/fleet/changes/${proposed.id}/reject`, headers: auth(), payload: { reason: "wrong tag" } });
      expect(rejected.statusCode, rejected.body).toBe(200);
      expect(rejected.json()).toMatchObject({ status: "REJECTED", rejectionReason: "wrong tag" });
      release();
      // Long enough for every preview of the fleet to have run had it gone on.
      await new Promise((r) => setTimeout(r, 3_000));
      const after = await waitForChange(app, proposed.id, () => true);
      expect(after).toMatchObject({ status: "REJECTED", preview: { groups: [] } });
      const audit = await sql(db.url, "SELECT from_status, to_status FROM provisioning_audit_logs WHERE entity = 'fleet' AND details->>'fleetChangeId' = $1 ORDER BY id", [proposed.id]);
      expect(audit).toEqual([{ from_status: null, to_status: "PREVIEWING" }, { from_status: "PREVIEWING", to_status: "REJECTED" }]);
    } finally {
      release?.();
      delete control.hold;
    }
  });
});

describe.skipIf(!postgres.available)("a background fleet preview across a restart", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let second: TestService | undefined;
  afterAll(async () => {
    await second?.close();
    await db?.drop();
  });

  it("is finished by the next process when the one previewing it stops, which previews only the tenants not yet previewed", async () => {
    db = await freshDatabase();
    let release!: () => void;
    // alpha's preview completes; bravo's waits until the first process is stopping.
    const held: PreviewControl = { calls: [], hold: new Promise<void>((resolve) => (release = resolve)), holdSlug: "bravo" };
    const first = await startService(db.url, { MATIH_WORKERS: "1" }, { wrapEngine: tenantByTenant(held) });
    let changeId: string;
    try {
      await createFleet(first.app, [{ slug: "alpha", tier: "free" }, { slug: "bravo", tier: "free" }]);
      changeId = (await proposeInBackground(first.app, { settings: { images: { tags: { "ai-service": "2.3.0" } } }, reason: "ai-service 2.3.0" })).id;
      const deadline = Date.now() + 30_000;
      const kept = async () => (await sql(db.url, "SELECT slug FROM fleet_change_preview_digests WHERE change_id = $1", [changeId])).map((r: { slug: string }) => r.slug);
      while ((!held.calls.some((c) => c.slug === "bravo") || (await kept()).length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(held.calls.map((c) => c.slug).sort()).toEqual(["alpha", "bravo"]);
      // alpha's digest is kept as soon as its preview is done, bravo's is not there yet.
      expect(await kept()).toEqual(["alpha"]);
    } finally {
      // Stopped while its preview waits: the job is left to another process.
      const closing = first.close();
      release();
      await closing;
    }
    expect((await sql(db.url, "SELECT status FROM fleet_changes WHERE id = $1", [changeId]))[0].status).toBe("PREVIEWING");

    const fresh: PreviewControl = { calls: [] };
    const startedSecond = new Date();
    second = await startService(db.url, { MATIH_WORKERS: "1" }, { wrapEngine: tenantByTenant(fresh) });
    const change = await waitForChange(second.app, changeId, (c) => c.status !== "PREVIEWING", 120_000);
    expect(change).toMatchObject({ status: "PENDING_REVIEW", previewProgress: { done: 2, total: 2 } });
    expect(change.preview.groups.map((g: any) => [g.slugs, g.summary])).toEqual([[["alpha", "bravo"], "update 1 Release"]]);
    // Only bravo is previewed again; alpha's kept digest is grouped with it, and the digests are gone once it is done.
    expect(fresh.calls.map((c) => c.slug)).toEqual(["bravo"]);
    expect(await sql(db.url, "SELECT count(*)::int AS n FROM fleet_change_preview_digests WHERE change_id = $1", [changeId])).toEqual([{ n: 0 }]);
    // The preview dates from the first process's start: a stack changed after that is previewed again at its rollout turn.
    const [{ previewed }] = await sql(db.url, "SELECT previewed_at < $2::timestamptz AS previewed FROM fleet_changes WHERE id = $1", [changeId, startedSecond.toISOString()]);
    expect(previewed).toBe(true);
  }, 240_000);
});
