import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint } from "../../automation/render/plan-file.ts";
import { renderMail } from "../../server/outbox/mail-templates.ts";
import { probePostgres, sql } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, READ_TOKEN, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();

type App = TestService["app"];

async function createActive(app: App, slug: string, tier = "free"): Promise<any> {
  const created = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug, tier) });
  expect(created.statusCode).toBe(202);
  const status = await waitForStatus(app, created.json().tenant.id, settled);
  expect(status.status).toBe("ACTIVE");
  return created.json().tenant;
}

async function requestChange(app: App, tenantId: string, body: object, token = ADMIN_TOKEN): Promise<any> {
  const res = await app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes`, headers: auth(token), payload: body });
  expect(res.statusCode, res.body).toBe(202);
  return res.json();
}

/** Polls a change until its preview run has finished. */
async function waitForChange(app: App, tenantId: string, changeId: string, done: (c: any) => boolean = (c) => c.status !== "PREVIEWING", timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes/${changeId}`, headers: auth() })).json();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`change ${changeId} did not settle; last: ${JSON.stringify(last)?.slice(0, 1000)}`);
}

const approve = (app: App, tenantId: string, changeId: string, body: object = {}, token = ADMIN_TOKEN) =>
  app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes/${changeId}/approve`, headers: auth(token), payload: body });

async function recordOf(databaseUrl: string, slug: string): Promise<any> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query("SELECT state FROM render_states WHERE slug = $1", [slug])).rows[0]?.state;
  } finally {
    await client.end();
  }
}


const audit = async (app: App, id: string) => (await app.inject({ method: "GET", url: `/api/v1/tenants/${id}/audit?limit=1000`, headers: auth() })).json().items;

describe.skipIf(!postgres.available)("changes through review on real Postgres with the render engine", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_CHANGE_TTL_HOURS: "0.5" });
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("applies a free -> professional upgrade exactly as previewed: the recorded resources are the reviewed plan's result", async () => {
    const tenant = await createActive(service.app, "upgrade");
    const requested = await requestChange(service.app, tenant.id, { tier: "professional", reason: "more users" });
    expect(requested).toMatchObject({ tenantId: tenant.id, status: "PREVIEWING", requested: { tier: "professional", reason: "more users" }, createdBy: "admin" });
    // MATIH_CHANGE_TTL_HOURS=0.5: the change may be approved for 30 minutes.
    expect(Date.parse(requested.expiresAt) - Date.parse(requested.createdAt)).toBe(30 * 60 * 1000);

    const reviewed = await waitForChange(service.app, tenant.id, requested.id);
    expect(reviewed.status).toBe("PENDING_REVIEW");
    const preview = reviewed.preview;
    expect(preview.destructive).toBe(false);
    // Changes only, in phase order.
    expect(preview.changes.every((c: any) => c.op !== "same")).toBe(true);
    const phases = preview.changes.map((c: any) => c.phase?.number ?? 0);
    expect(phases).toEqual([...phases].sort((a: number, b: number) => a - b));
    const quota = preview.changes.find((c: any) => c.type === "kubernetes:core/v1:ResourceQuota");
    expect(quota).toMatchObject({ op: "update", phase: { number: 1, name: "CREATE_NAMESPACE" } });
    expect(quota.diffs).toEqual(expect.arrayContaining([{ path: "spec.hard.pods", old: "20", new: "50" }]));
    // The professional tier adds the tenant's own PgBouncer pool in phase 2.
    expect(preview.changes.some((c: any) => c.op === "create" && c.phase?.number === 2 && /pgbouncer|pool/i.test(c.name))).toBe(true);
    // The credentials Secret: which keys change is visible, no value is.
    const credentials = preview.changes.find((c: any) => c.type === "kubernetes:core/v1:Secret" && /credentials/.test(c.name));
    expect(credentials.op).toBe("update");
    const paths = credentials.diffs.map((d: any) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["stringData.DATABASE_URL", "stringData.POSTGRES_HOST", "stringData.POSTGRES_PORT"]));
    expect(paths).not.toContain("stringData.POSTGRES_PASSWORD");
    for (const d of credentials.diffs) expect([d.old, d.new]).toEqual(["[secret]", "[secret]"]);
    expect(JSON.stringify(reviewed)).not.toMatch(/render-[0-9a-f]{8}/);

    // The preview was a run of its own; the tenant stayed ACTIVE on free.
    expect((await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json()).toMatchObject({ status: "ACTIVE", tier: "free" });

    const approved = await approve(service.app, tenant.id, requested.id);
    expect(approved.statusCode, approved.body).toBe(202);
    expect(approved.json()).toMatchObject({ change: { status: "APPROVED", decidedBy: "admin" }, tenant: { status: "UPDATING" }, run: { kind: "update", status: "QUEUED" } });

    const status = await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));
    expect(status).toMatchObject({ status: "ACTIVE", run: { kind: "update", status: "SUCCEEDED" }, progress: 100 });
    const after = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json();
    expect(after).toMatchObject({
      tier: "professional",
      status: "ACTIVE",
      profile: { quota: { pods: 50, cpuRequest: "8", memoryLimit: "32Gi" }, databaseStrategy: "schema-per-tenant", connectionPool: true, dedicatedServer: false, replicas: { coreServices: 2 } },
    });
    const applied = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${requested.id}`, headers: auth() })).json();
    expect(applied).toMatchObject({ status: "APPLIED" });
    expect(applied.appliedAt).not.toBeNull();

    // Exactly as previewed: the record now is the rendered state the plan fingerprinted.
    const record = await recordOf(service.databaseUrl, "upgrade");
    const plan = JSON.parse(await readFile((await sql(service.databaseUrl, "SELECT plan FROM tenant_changes WHERE id = $1", [requested.id]))[0].plan.file, "utf8"));
    expect(fingerprint(record.resources)).toBe(plan.desired);
    const byUrn = new Map(record.resources.map((r: any) => [r.urn, r]));
    for (const change of preview.changes) {
      if (change.op === "delete") expect(byUrn.has(change.urn)).toBe(false);
      else expect(byUrn.has(change.urn), change.urn).toBe(true);
    }
    expect((byUrn.get(quota.urn) as any).inputs.spec.hard.pods).toBe("50");
    // And nothing is left to do: a fresh preview of the tenant as it is now finds no change.
    const again = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: {} })).json();
    expect(again.changeSummary).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0 });

    const rows = await audit(service.app, tenant.id);
    const changeRows = rows.filter((a: any) => a.entity === "change").map((a: any) => [a.from, a.to, a.actor]);
    expect(changeRows).toEqual([[null, "PREVIEWING", "admin"], ["PREVIEWING", "PENDING_REVIEW", "tenant-service"], ["PENDING_REVIEW", "APPROVED", "admin"], ["APPROVED", "APPLYING", "tenant-service"], ["APPLYING", "APPLIED", "tenant-service"]]);
    expect(rows.filter((a: any) => a.entity === "tenant").map((a: any) => a.to)).toEqual(["PROVISIONING", "ACTIVE", "UPDATING", "ACTIVE"]);

    const outbox = await sql(service.databaseUrl, "SELECT kind, type, payload FROM outbox WHERE tenant_id = $1 ORDER BY seq", [tenant.id]);
    const event = outbox.find((o) => o.kind === "event" && o.type === "tenant.updated");
    expect(event.payload).toMatchObject({ tenantId: tenant.id, slug: "upgrade", fromTier: "free", tier: "professional", changeId: requested.id, reason: "more users", requestedBy: "admin", approvedBy: "admin" });
    const mail = outbox.find((o) => o.kind === "email" && o.type === "update-completed");
    const rendered = renderMail(mail);
    expect(rendered.to).toBe("admin@upgrade.example");
    expect(rendered.text).toContain("Tier:     free -> professional");
    expect(rendered.text).toContain("Reason:   more users");
    // The tenant's admin reads the quota the tier gives; the resources by name and type go to the operators (MATIH_OPS_EMAIL).
    expect(rendered.text).toContain("Quota:    up to 16 CPU, 32Gi memory, 50 pods (was up to 4 CPU, 8Gi memory, 20 pods)");
    expect(rendered.text).not.toContain("database-pool");
  });

  it("refuses a plan made before another run with plan_stale and marks the change STALE", async () => {
    const tenant = await createActive(service.app, "stale");
    const first = await requestChange(service.app, tenant.id, { tier: "professional" });
    await waitForChange(service.app, tenant.id, first.id);
    const second = await requestChange(service.app, tenant.id, { lastPhase: 10, reason: "converge" });
    await waitForChange(service.app, tenant.id, second.id);
    expect((await approve(service.app, tenant.id, second.id)).statusCode).toBe(202);
    await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));

    const refused = await approve(service.app, tenant.id, first.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe("plan_stale");
    const change = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${first.id}`, headers: auth() })).json();
    expect(change.status).toBe("STALE");
    expect((await approve(service.app, tenant.id, first.id)).json().code).toBe("change_not_pending");
    const tenantAfter = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json();
    expect(tenantAfter).toMatchObject({ status: "ACTIVE", tier: "free" });
  });

  it("marks a free -> enterprise move destructive, refuses it without allowDestructive and applies it with it", async () => {
    const tenant = await createActive(service.app, "bigger");
    const requested = await requestChange(service.app, tenant.id, { tier: "enterprise" });
    const reviewed = await waitForChange(service.app, tenant.id, requested.id);
    expect(reviewed.status).toBe("PENDING_REVIEW");
    expect(reviewed.preview.destructive).toBe(true);
    // The schema on the shared server is replaced by one in the dedicated server's database.
    expect(reviewed.preview.destructiveResources).toEqual(expect.arrayContaining([expect.objectContaining({ type: "postgresql:index/schema:Schema", op: "replace" })]));
    expect(reviewed.preview.changes.some((c: any) => c.type === "azure-native:dbforpostgresql:Server" && c.op === "create")).toBe(true);

    const refused = await approve(service.app, tenant.id, requested.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe("destructive_change");
    expect(refused.json().message).toMatch(/allowDestructive/);
    const still = await waitForChange(service.app, tenant.id, requested.id, () => true);
    expect(still.status).toBe("PENDING_REVIEW");

    const allowed = await approve(service.app, tenant.id, requested.id, { allowDestructive: true });
    expect(allowed.statusCode).toBe(202);
    expect(allowed.json().change).toMatchObject({ allowDestructive: true });
    await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));
    const after = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}`, headers: auth() })).json();
    expect(after).toMatchObject({ status: "ACTIVE", tier: "enterprise", profile: { quota: null, databaseStrategy: "database-per-tenant", dedicatedServer: true, connectionPool: false, replicas: { coreServices: 3 } } });
  });

  it("refuses an expired change with change_expired and marks it EXPIRED", async () => {
    const tenant = await createActive(service.app, "late");
    const requested = await requestChange(service.app, tenant.id, { tier: "professional" });
    await waitForChange(service.app, tenant.id, requested.id);
    await sql(service.databaseUrl, "UPDATE tenant_changes SET expires_at = now() - interval '1 second' WHERE id = $1", [requested.id]);
    const refused = await approve(service.app, tenant.id, requested.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe("change_expired");
    const change = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes/${requested.id}`, headers: auth() })).json();
    expect(change.status).toBe("EXPIRED");
    expect((await sql(service.databaseUrl, "SELECT count(*)::int AS n FROM provisioning_runs WHERE change_id = $1 AND kind = 'update'", [requested.id]))[0].n).toBe(0);
  });

  it("rejects a change, which then cannot be approved, and lists the tenant's changes newest first", async () => {
    const tenant = await createActive(service.app, "nope");
    const requested = await requestChange(service.app, tenant.id, { tier: "professional" });
    await waitForChange(service.app, tenant.id, requested.id);
    const rejected = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${requested.id}/reject`, headers: auth(), payload: { reason: "not this quarter" } });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json()).toMatchObject({ status: "REJECTED", decidedBy: "admin", rejectionReason: "not this quarter", error: null });
    const refused = await approve(service.app, tenant.id, requested.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe("change_not_pending");
    const later = await requestChange(service.app, tenant.id, {});
    const list = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth() })).json();
    expect(list.items.map((c: any) => c.id)).toEqual([later.id, requested.id]);
    const rows = (await audit(service.app, tenant.id)).filter((a: any) => a.entity === "change" && a.to === "REJECTED");
    expect(rows).toHaveLength(1);
    expect(rows[0].message).toMatch(/rejected by admin: not this quarter/);
  });

  it("keeps a change's preview run with its ten phase rows while the synchronous previews beside it are pruned to the newest 20", async () => {
    const tenant = await createActive(service.app, "kept");
    const requested = await requestChange(service.app, tenant.id, { tier: "professional" });
    expect((await waitForChange(service.app, tenant.id, requested.id)).status).toBe("PENDING_REVIEW");
    const [{ previewRunId }] = await sql(db.url, `SELECT preview_run_id AS "previewRunId" FROM tenant_changes WHERE id = $1`, [requested.id]);
    expect(previewRunId).toBeTruthy();
    for (let i = 0; i < 22; i++) {
      expect((await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/preview`, headers: auth(), payload: {} })).statusCode).toBe(200);
    }
    const runs = await sql(db.url, `SELECT (change_id IS NOT NULL) AS "ofChange", count(*)::int AS n FROM provisioning_runs WHERE tenant_id = $1 AND kind = 'preview' GROUP BY 1 ORDER BY 1`, [tenant.id]);
    expect(runs).toEqual([{ ofChange: false, n: 20 }, { ofChange: true, n: 1 }]);
    const phases = await sql(db.url, `SELECT count(*)::int AS n FROM run_phases WHERE run_id = $1`, [previewRunId]);
    expect(phases[0].n).toBe(10);
    // The reviewed change can still be approved and applied from that kept run's plan.
    expect((await approve(service.app, tenant.id, requested.id)).statusCode).toBe(202);
    await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));
  });

  it("gives two approvals at once exactly one update run", async () => {
    const tenant = await createActive(service.app, "twice");
    const requested = await requestChange(service.app, tenant.id, { tier: "professional" });
    await waitForChange(service.app, tenant.id, requested.id);
    const answers = await Promise.all([approve(service.app, tenant.id, requested.id), approve(service.app, tenant.id, requested.id)]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([202, 409]);
    expect(answers.find((a) => a.statusCode === 409)!.json().code).toBe("change_not_pending");
    await waitForStatus(service.app, tenant.id, (s) => s.run?.kind === "update" && settled(s));
    expect((await sql(service.databaseUrl, "SELECT count(*)::int AS n FROM provisioning_runs WHERE change_id = $1 AND kind = 'update'", [requested.id]))[0].n).toBe(1);
  });

  it("answers run_in_progress while another run is in flight, and refuses changes to a tenant that is not ACTIVE", async () => {
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("busy") });
    const busy = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${created.json().tenant.id}/changes`, headers: auth(), payload: { tier: "professional" } });
    expect(busy.statusCode).toBe(409);
    expect(["invalid_transition", "run_in_progress"]).toContain(busy.json().code);
    await waitForStatus(service.app, created.json().tenant.id, settled);
    const change = await requestChange(service.app, created.json().tenant.id, { tier: "professional" });
    // Its preview is queued or running: a second change must wait for it.
    const second = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${created.json().tenant.id}/changes`, headers: auth(), payload: {} });
    const reviewed = await waitForChange(service.app, created.json().tenant.id, change.id);
    if (second.statusCode === 409) expect(second.json().code).toBe("run_in_progress");
    else expect(reviewed.status).toBe("PENDING_REVIEW"); // the preview had already finished
    expect((await service.app.inject({ method: "POST", url: `/api/v1/tenants/${created.json().tenant.id}/changes`, headers: auth(), payload: { tier: "gold" } })).statusCode).toBe(400);
    expect((await service.app.inject({ method: "POST", url: `/api/v1/tenants/${created.json().tenant.id}/changes`, headers: auth(READ_TOKEN), payload: {} })).statusCode).toBe(403);
    expect((await service.app.inject({ method: "GET", url: `/api/v1/tenants/${created.json().tenant.id}/changes/00000000-0000-4000-8000-000000000000`, headers: auth() })).statusCode).toBe(404);
  });
});

describe.skipIf(!postgres.available)("four eyes: named admin tokens and a separate approver", () => {
  const alice = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
  const bob = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_ADMIN_TOKENS: `alice:${alice},bob:${bob}`, MATIH_REQUIRE_SEPARATE_APPROVER: "true" });
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("refuses the requester's own approval with 403 same_principal and takes another admin's", async () => {
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(alice), payload: tenantRequest("fours") });
    expect(created.json().tenant.requestedBy).toBe("alice");
    await waitForStatus(service.app, created.json().tenant.id, settled);
    const requested = await requestChange(service.app, created.json().tenant.id, { tier: "professional" }, alice);
    expect(requested.createdBy).toBe("alice");
    await waitForChange(service.app, created.json().tenant.id, requested.id);

    const own = await approve(service.app, created.json().tenant.id, requested.id, {}, alice);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe("same_principal");
    const other = await approve(service.app, created.json().tenant.id, requested.id, {}, bob);
    expect(other.statusCode).toBe(202);
    expect(other.json().change).toMatchObject({ createdBy: "alice", decidedBy: "bob" });
    await waitForStatus(service.app, created.json().tenant.id, (s) => s.run?.kind === "update" && settled(s));
    const rows = (await audit(service.app, created.json().tenant.id)).filter((a: any) => a.entity === "change");
    expect(rows.find((a: any) => a.to === "PREVIEWING").actor).toBe("alice");
    expect(rows.find((a: any) => a.to === "APPROVED")).toMatchObject({ actor: "bob", message: expect.stringContaining("approved by bob") });
  });
});

describe.skipIf(!postgres.available)("a failing update and its retry", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let dataDir: string;

  beforeAll(async () => {
    db = await freshDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), "matih-changes-"));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("leaves the tenant FAILED and the change FAILED when the update fails, and a retry applies the same change", async () => {
    // Provision and preview without faults, then run the update where phase 3 fails twice (two attempts).
    const calm = await startService(db.url, { MATIH_DATA_DIR: dataDir });
    let tenantId: string;
    let changeId: string;
    try {
      tenantId = (await createActive(calm.app, "shaky")).id;
      changeId = (await requestChange(calm.app, tenantId, { tier: "professional" })).id;
      expect((await waitForChange(calm.app, tenantId, changeId)).status).toBe("PENDING_REVIEW");
    } finally {
      await calm.close();
    }
    const faulty = await startService(db.url, {
      MATIH_DATA_DIR: dataDir,
      MATIH_MAX_ATTEMPTS: "2",
      MATIH_RENDER_FAULTS: JSON.stringify({ 3: { failTimes: 2, message: "deployment core-services did not become ready" } }),
    });
    try {
      expect((await approve(faulty.app, tenantId, changeId)).statusCode).toBe(202);
      const failed = await waitForStatus(faulty.app, tenantId, (s) => s.run?.kind === "update" && settled(s));
      expect(failed).toMatchObject({ status: "FAILED", run: { kind: "update", status: "FAILED", attempt: 2 } });
      expect(failed.error).toMatch(/core-services did not become ready/);
      const change = await waitForChange(faulty.app, tenantId, changeId, () => true);
      expect(change).toMatchObject({ status: "FAILED", error: expect.stringMatching(/did not become ready/) });
      const tenant = (await faulty.app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}`, headers: auth() })).json();
      expect(tenant).toMatchObject({ status: "FAILED", tier: "free" });
      const events = await sql(db.url, "SELECT type FROM outbox WHERE tenant_id = $1 AND kind = 'event' ORDER BY seq", [tenantId]);
      expect(events.map((e) => e.type)).toContain("tenant.update_failed");

      const retried = await faulty.app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/provisioning/retry`, headers: auth() });
      expect(retried.statusCode).toBe(202);
      expect(retried.json()).toMatchObject({ tenant: { status: "UPDATING" }, run: { kind: "update" } });
      const done = await waitForStatus(faulty.app, tenantId, (s) => s.run?.kind === "update" && s.run.id === retried.json().run.id && settled(s));
      expect(done).toMatchObject({ status: "ACTIVE", run: { status: "SUCCEEDED" } });
      const applied = await waitForChange(faulty.app, tenantId, changeId, () => true);
      expect(applied.status).toBe("APPLIED");
      expect((await faulty.app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}`, headers: auth() })).json()).toMatchObject({ status: "ACTIVE", tier: "professional", profile: { quota: { pods: 50 } } });
      // Both update runs belong to the one change.
      expect((await sql(db.url, "SELECT count(*)::int AS n FROM provisioning_runs WHERE change_id = $1 AND kind = 'update'", [changeId]))[0].n).toBe(2);
    } finally {
      await faulty.close();
    }
  });
});
