/**
 * Fleet changes through review (issue 23): the merge patch, its checks, the
 * preview of a mixed fleet grouped by identical change, approval under four
 * eyes into a rollout that completes, rejection, and an abort. Real
 * PostgreSQL, the render engine (the default path).
 */
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { ValidationError } from "../../model/spec.ts";
import { groupFleetPreview, patchedSettings, planWaves } from "../../server/domain/fleet-changes.ts";
import { applyMergePatch } from "../../server/domain/merge-patch.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, useService } from "../support/service.ts";
import { approveFleet, createFleet, MIXED_PATCH, propose, quiet, recordText, sql, statuses, waitForRollout } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

describe("JSON merge patch", () => {
  // RFC 7396, appendix A, every example as written there.
  const examples: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(examples)("%j patched with %j gives %j", (original, patch, result) => {
    const before = structuredClone(original);
    expect(applyMergePatch(original, patch)).toEqual(result);
    expect(original).toEqual(before); // the target is left as it was
  });
});

describe("checking a settings patch", () => {
  const current = JSON.parse(JSON.stringify(resolvePlatformSettings()));
  const problems = (patch: Record<string, unknown>) => {
    try {
      patchedSettings(current, patch);
      return [];
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).problems.map((p) => p.field);
    }
  };

  it("applies a good patch and names every bad path under settings.", () => {
    expect(patchedSettings(current, { charts: { version: "1.0.1" } }).charts).toEqual({ ...current.charts, version: "1.0.1" });
    expect(problems({ postgres: { port: 70000 }, tls: { readyTimeoutSeconds: -1 } })).toEqual(["settings.postgres.port", "settings.tls.readyTimeoutSeconds"]);
    expect(problems({ charts: { versio: "1" } })).toEqual(["settings.charts.versio"]);
  });

  it("refuses the cluster connection, removing a required setting, and allows removing an optional one", () => {
    expect(problems({ kubernetes: { kubeconfig: "/root/.kube/config" } })).toEqual(["settings.kubernetes.kubeconfig"]);
    expect(problems({ baseDomain: null })).toEqual(["settings.baseDomain"]);
    const withTag = patchedSettings(current, { images: { tags: { "ai-service": "2.0.0" } } });
    expect(patchedSettings(withTag, { images: { tags: { "ai-service": null } } }).images.tags).toEqual({});
  });

  it("plans a canary, then waves growing by the factor", () => {
    expect(planWaves(11, { canary: 2, growth: 2 })).toEqual([0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(planWaves(4, { canary: 1, growth: 1 })).toEqual([0, 1, 1, 2]); // a factor of 1 still grows by one
    expect(planWaves(0, { canary: 2, growth: 2 })).toEqual([]);
  });
});

describe("grouping a fleet preview", () => {
  const summary = (update: number, replace = 0) => ({ create: 0, update, replace, delete: 0, same: 40 });
  const change = (slug: string, op: string, type: string, name: string, paths: string[]) =>
    ({ urn: `urn:pulumi:${slug}::matih-tenant::${type}::${name}`, type, op, phase: null, changedPaths: paths, replaceReasons: [], diffs: paths.map((path) => ({ path })) });
  const alloy = (slug: string) => change(slug, "update", "kubernetes:core/v1:ConfigMap", `${slug}-alloy`, [`data["matih-${slug}.alloy"]`]);

  it("groups identical changes whatever the tenant's own names, and lists destructive, failed and unreached tenants apart", () => {
    const selected = ["alpha", "bravo", "charlie", "delta", "echo"].map((slug, i) => ({ id: `00000000-0000-4000-8000-00000000000${i}`, slug, status: "ACTIVE" }));
    const entries = [
      { slug: "alpha", ok: true as const, changeSummary: summary(1), changes: [alloy("alpha")] },
      { slug: "echo", ok: true as const, changeSummary: summary(1), changes: [alloy("echo")] },
      { slug: "bravo", ok: true as const, changeSummary: summary(1, 1), changes: [alloy("bravo"), change("bravo", "replace", "postgresql:index/role:Role", "bravo-role", ["name"])] },
      { slug: "charlie", ok: false as const, error: { code: "engine_error", message: "render failed", retryable: false } as any },
    ];
    const { preview, tenants, destructive } = groupFleetPreview(selected, entries as any);
    expect(destructive).toBe(true);
    expect(preview.groups.map((g) => [g.tenants, g.slugs, g.summary, g.destructive])).toEqual([
      [2, ["alpha", "echo"], "update 1 ConfigMap", false],
      [1, ["bravo"], "replace 1 Role; update 1 ConfigMap", true],
    ]);
    expect(preview.groups[0]!.changes[0]!.paths).toEqual(['data["matih-{slug}.alloy"]']);
    expect(preview.destructive).toEqual([{ tenantId: selected[1]!.id, slug: "bravo", resources: [{ urn: "urn:pulumi:bravo::matih-tenant::postgresql:index/role:Role::bravo-role", type: "postgresql:index/role:Role", op: "replace" }] }]);
    expect(preview.failed).toEqual([{ tenantId: selected[2]!.id, slug: "charlie", error: "render failed" }]);
    expect(preview.notPreviewed).toEqual([{ tenantId: selected[3]!.id, slug: "delta", status: "ACTIVE" }]);
    expect(tenants.map((t) => [t.slug, t.outcome, t.group])).toEqual([["alpha", "change", 0], ["bravo", "change", 1], ["charlie", "failed", null], ["delta", "not-previewed", null], ["echo", "change", 0]]);
    expect(tenants[0]!.resources).toEqual(["update urn:pulumi:alpha::matih-tenant::kubernetes:core/v1:ConfigMap::alpha-alloy"]);
  });
});

describe.skipIf(!postgres.available)("fleet changes on real PostgreSQL with the render engine", () => {
  const alice = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
  const bob = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";
  const service = useService({ MATIH_ADMIN_TOKENS: `alice:${alice},bob:${bob}`, MATIH_REQUIRE_SEPARATE_APPROVER: "true", MATIH_WORKERS: "1" });
  let ids: Record<string, string>;
  let approvedChangeId: string;

  it("previews a settings change on a mixed fleet, grouped by identical change, without making it current", async () => {
    const { app } = service;
    ids = await createFleet(app);
    const change = await propose(app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0 and PgBouncer 1.24.2" }, alice);
    expect(change).toMatchObject({
      status: "PENDING_REVIEW", baseVersion: 1, version: null, createdBy: "alice", destructive: false, rolloutId: null,
      changedPaths: ["images.pgbouncer", "images.tags.ai-service"], settingsPatch: MIXED_PATCH,
    });
    const release = { op: "update", type: "kubernetes:helm.sh/v3:Release", count: 1, paths: ["values.image.tag"] };
    const deployment = { op: "update", type: "kubernetes:apps/v1:Deployment", count: 1, paths: ["spec.template.spec.containers[0].image"] };
    expect(change.preview.groups.map((g: any) => ({ tenants: g.tenants, slugs: g.slugs, summary: g.summary, changes: g.changes }))).toEqual([
      { tenants: 2, slugs: ["alpha", "bravo"], summary: "update 1 Release", changes: [release] },
      { tenants: 1, slugs: ["charlie"], summary: "update 1 Deployment; update 1 Release", changes: [deployment, release] },
      { tenants: 1, slugs: ["delta"], summary: "no change", changes: [] },
    ]);
    expect(change.preview).toMatchObject({ selected: 4, destructive: [], failed: [], notPreviewed: [] });

    // Kept with the change; and nothing runs on it yet.
    const read = await app.inject({ method: "GET", url: `/api/v1/fleet/changes/${change.id}`, headers: auth() });
    expect(read.json()).toEqual(change);
    expect((await app.inject({ method: "GET", url: "/api/v1/platform/settings", headers: auth() })).json().version).toBe(1);

    // A selector narrows the preview.
    const narrowed = await propose(app, { settings: MIXED_PATCH, reason: "professional only", selector: { tiers: ["professional"] } }, alice);
    expect(narrowed.preview.selected).toBe(1);
    expect(narrowed.preview.groups.map((g: any) => g.slugs)).toEqual([["charlie"]]);
    expect((await app.inject({ method: "POST", url: `/api/v1/fleet/changes/${narrowed.id}/reject`, headers: auth(bob), payload: { reason: "one at a time" } })).json())
      .toMatchObject({ status: "REJECTED", decidedBy: "bob", rejectionReason: "one at a time" });
    approvedChangeId = change.id;
  });

  it("refuses a bad patch with 400 naming the exact path, and a secret value, recording nothing", async () => {
    const { app } = service;
    const bad = await app.inject({ method: "POST", url: "/api/v1/fleet/changes", headers: auth(alice), payload: { settings: { postgres: { port: "5432" } }, reason: "typo" } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "invalid_request", details: [{ field: "settings.postgres.port" }] });
    const secret = await app.inject({ method: "POST", url: "/api/v1/fleet/changes", headers: auth(alice), payload: { settings: { charts: { repository: `https://ci:${ADMIN_TOKEN}@charts.example.com` } }, reason: "private charts" } });
    expect(secret.statusCode).toBe(400);
    expect(secret.json().details).toEqual([{ field: "settings.charts.repository", message: expect.stringMatching(/secret value/) }]);
    expect(secret.body).not.toContain(ADMIN_TOKEN);
    const nothing = await app.inject({ method: "POST", url: "/api/v1/fleet/changes", headers: auth(alice), payload: { settings: { charts: { version: "1.0.0" } }, reason: "same" } });
    expect(nothing.statusCode).toBe(400);
    expect((await sql(service.databaseUrl, "SELECT count(*)::int AS n FROM fleet_changes"))[0].n).toBe(2);
  });

  it("approves under four eyes into a rollout in waves that completes, with events and audit rows", async () => {
    const { app, databaseUrl } = service;
    const own = await approveFleet(app, approvedChangeId, {}, alice);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe("same_principal");

    const approved = await approveFleet(app, approvedChangeId, { waves: { canary: 1, growth: 2, concurrency: 2 } }, bob);
    expect(approved.statusCode, approved.body).toBe(202);
    const started = approved.json();
    expect(approved.headers.location).toBe(`/api/v1/fleet/rollouts/${started.id}`);
    expect(started).toMatchObject({ fleetChangeId: approvedChangeId, settingsVersion: 2, waveCount: 3, createdBy: "bob", config: { canary: 1, growth: 2, concurrency: 2, canaryMaxFailures: 0, waveFailurePercent: 10 } });
    // Tenants that change go first: the canary tries the change.
    expect(started.waves.map((w: any) => w.tenants.map((t: any) => t.slug))).toEqual([["alpha"], ["bravo", "charlie"], ["delta"]]);
    // Approval made the version current, everywhere at once.
    expect((await app.inject({ method: "GET", url: "/api/v1/platform/settings", headers: auth() })).json()).toMatchObject({ version: 2, createdBy: "bob" });
    expect((await app.inject({ method: "POST", url: `/api/v1/fleet/changes/${approvedChangeId}/approve`, headers: auth(bob), payload: {} })).json().code).toBe("change_not_pending");

    const done = await waitForRollout(app, started.id, (r) => r.status === "COMPLETED");
    expect(statuses(done)).toEqual({ alpha: "SUCCEEDED", bravo: "SUCCEEDED", charlie: "SUCCEEDED", delta: "UNCHANGED" });
    expect(done.waves.map((w: any) => w.status)).toEqual(["completed", "completed", "completed"]);
    expect(done).toMatchObject({ currentWave: 3, skipped: [], held: [], counts: { SUCCEEDED: 3, UNCHANGED: 1 } });

    // Each tenant that changes went through one tenant change: a preview that saved a plan, and one update that applied it.
    const runs = await sql(databaseUrl, "SELECT t.slug, r.kind, c.status FROM provisioning_runs r JOIN tenants t ON t.id = r.tenant_id JOIN tenant_changes c ON c.id = r.change_id ORDER BY t.slug, r.created_at");
    expect(runs).toEqual(["alpha", "bravo", "charlie"].flatMap((slug) => [{ slug, kind: "preview", status: "APPLIED" }, { slug, kind: "update", status: "APPLIED" }]));
    // What was applied: the new tag everywhere it runs, the new PgBouncer where there is one.
    expect(await recordText(databaseUrl, "charlie")).toContain("bitnamilegacy/pgbouncer:1.24.2");
    expect(await recordText(databaseUrl, "alpha")).toMatch(/"tag":"2\.0\.0"/);
    expect(await recordText(databaseUrl, "delta")).not.toMatch(/"tag":"2\.0\.0"/);
    const fleet = (await app.inject({ method: "GET", url: "/api/v1/fleet?behind=true", headers: auth() })).json();
    expect(fleet).toMatchObject({ total: 0, currentSettingsVersion: 2 });

    const events = await sql(databaseUrl, "SELECT type, payload FROM outbox WHERE kind = 'event' AND type LIKE 'fleet.%' ORDER BY seq");
    expect(events.map((e) => e.type)).toEqual(["fleet.rollout_started", "fleet.rollout_wave_completed", "fleet.rollout_wave_completed", "fleet.rollout_wave_completed", "fleet.rollout_completed"]);
    expect(events[4].payload).toMatchObject({ rolloutId: started.id, settingsVersion: 2, counts: { SUCCEEDED: 3, UNCHANGED: 1 } });
    const audit = await sql(databaseUrl, "SELECT actor, to_status AS to FROM provisioning_audit_logs WHERE entity = 'fleet' ORDER BY id");
    expect(audit).toEqual([
      { actor: "alice", to: "PENDING_REVIEW" }, { actor: "alice", to: "PENDING_REVIEW" }, { actor: "bob", to: "REJECTED" },
      { actor: "bob", to: "APPROVED" }, { actor: "bob", to: "WAVE_COMPLETED" }, { actor: "bob", to: "WAVE_COMPLETED" }, { actor: "bob", to: "WAVE_COMPLETED" }, { actor: "bob", to: "COMPLETED" },
    ]);
    expect((await app.inject({ method: "GET", url: "/api/v1/audit/verify", headers: auth() })).json().ok).toBe(true);
  });

  it("aborts a rollout: no tenant starts after it, the rest are listed as skipped and stay behind", async () => {
    const { app, databaseUrl } = service;
    const change = await propose(app, { settings: { images: { tags: { "ai-service": "2.0.1" } } }, reason: "ai-service 2.0.1" }, alice);
    expect(change.preview.groups.map((g: any) => [g.tenants, g.summary])).toEqual([[3, "update 1 Release"], [1, "no change"]]);
    const approved = await approveFleet(app, change.id, { waves: { canary: 1, concurrency: 1 } }, bob);
    expect(approved.statusCode).toBe(202);
    const id = approved.json().id;
    const aborted = await app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${id}/abort`, headers: auth(bob) });
    expect(aborted.statusCode, aborted.body).toBe(200);
    expect(aborted.json()).toMatchObject({ status: "ABORTED" });
    expect((await app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${id}/resume`, headers: auth(bob) })).json().code).toBe("invalid_transition");

    const settledRollout = await waitForRollout(app, id, quiet);
    const byWave = settledRollout.waves.map((w: any) => w.tenants.map((t: any) => t.status));
    // The canary may have started before the abort (then it finishes); nothing after it did.
    expect(["SUCCEEDED", "SKIPPED"]).toContain(byWave[0][0]);
    expect(byWave.slice(1).flat()).toEqual(["SKIPPED", "SKIPPED", "SKIPPED"]);
    expect(settledRollout.skipped.filter((t: any) => t.wave > 1).every((t: any) => /aborted/.test(t.reason))).toBe(true);
    const updates = await sql(databaseUrl, "SELECT count(*)::int AS n FROM provisioning_runs WHERE kind = 'update' AND created_at > $1", [approved.json().createdAt]);
    expect(updates[0].n).toBeLessThanOrEqual(1);
    // The version stays current; the tenants not reached are behind it.
    const behind = (await app.inject({ method: "GET", url: "/api/v1/fleet?behind=true", headers: auth() })).json();
    expect(behind.currentSettingsVersion).toBe(3);
    expect(behind.items.map((t: any) => t.slug).sort()).toEqual(expect.arrayContaining(["bravo", "charlie", "delta"]));
    expect(ids).toBeDefined();
  });
});
