/**
 * A rollout halted by failures in its canary wave, resumed after a fix
 * (issue 23). The fault is the render engine's fault plan (MATIH_RENDER_FAULTS,
 * automation/core/fault-plan.ts): phase 1 fails once per tenant, with one
 * attempt per run. The fleet is provisioned and the change previewed without
 * faults, approved on a service with them, and resumed on one without them
 * again: the fix deployed, and the rollout picked up from PostgreSQL by a
 * process that did not start it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, startService } from "../support/service.ts";
import { approveFleet, createFleet, MIXED_FLEET, MIXED_PATCH, propose, quiet, sql, statuses, waitForRollout } from "./fleet-changes-support.ts";

const postgres = await probePostgres();

describe.skipIf(!postgres.available)("a rollout halted in its canary wave and resumed after a fix", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let dataDir: string;
  beforeAll(async () => {
    db = await freshDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), "matih-fleet-halt-"));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("halts when the canary fails, starts nothing more, and completes once resumed on the fixed service", async () => {
    // One warm worker each: three services start in this test, on a machine shared with other suites.
    const env = { MATIH_DATA_DIR: dataDir, MATIH_WORKERS: "1" };
    const calm = await startService(db.url, env);
    let changeId: string;
    try {
      await createFleet(calm.app, MIXED_FLEET.slice(0, 3));
      changeId = (await propose(calm.app, { settings: MIXED_PATCH, reason: "ai-service 2.0.0" })).id;
    } finally {
      await calm.close();
    }

    const faulty = await startService(db.url, { ...env, MATIH_MAX_ATTEMPTS: "1", MATIH_RENDER_FAULTS: JSON.stringify({ 1: { failTimes: 1, message: "namespace quota admission webhook timed out" } }) });
    let rolloutId: string;
    try {
      const approved = await approveFleet(faulty.app, changeId, { waves: { canary: 2, concurrency: 2 } });
      expect(approved.statusCode, approved.body).toBe(202);
      rolloutId = approved.json().id;
      const halted = await waitForRollout(faulty.app, rolloutId, (r) => r.status === "HALTED" && quiet(r));
      // It halts at the first failure (the other canary tenant, under way, finishes and fails too).
      expect(halted.haltedReason).toMatch(/^[12] of 2 tenants of the canary wave failed \(more than 0 allowed\)$/);
      expect(statuses(halted)).toEqual({ alpha: "FAILED", bravo: "FAILED", charlie: "PENDING" });
      expect(halted.waves[0].tenants[0].reason).toMatch(/its update failed: .*admission webhook timed out/);
      expect(halted.waves.map((w: any) => w.status)).toEqual(["halted", "pending"]);
      // Nothing of the next wave started.
      const charlieRuns = await sql(db.url, "SELECT r.kind FROM provisioning_runs r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug = 'charlie' AND r.kind <> 'provision'");
      expect(charlieRuns).toEqual([]);
      const events = await sql(db.url, "SELECT type, payload FROM outbox WHERE kind = 'event' AND type LIKE 'fleet.%' ORDER BY seq");
      expect(events.map((e) => e.type)).toEqual(["fleet.rollout_started", "fleet.rollout_halted"]);
      expect(events[1].payload).toMatchObject({ rolloutId, wave: 1, reason: halted.haltedReason });
      expect(events[1].payload.counts.FAILED).toBeGreaterThanOrEqual(1);
    } finally {
      await faulty.close();
    }

    const fixed = await startService(db.url, env);
    try {
      // Two admins at once: exactly one resume counts.
      const [first, second] = await Promise.all([0, 1].map(() => fixed.app.inject({ method: "POST", url: `/api/v1/fleet/rollouts/${rolloutId}/resume`, headers: auth(), payload: {} })));
      expect([first!.statusCode, second!.statusCode].sort()).toEqual([200, 409]);
      const done = await waitForRollout(fixed.app, rolloutId, (r) => r.status === "COMPLETED");
      expect(statuses(done)).toEqual({ alpha: "SUCCEEDED", bravo: "SUCCEEDED", charlie: "SUCCEEDED" });
      // The canary tenants' same changes were applied again (a second update run each), not previewed anew.
      const canary = done.waves[0].tenants;
      expect(canary.map((t: any) => t.attempts)).toEqual([2, 2]);
      const runs = await sql(db.url, "SELECT t.slug, r.kind, r.status FROM provisioning_runs r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug IN ('alpha', 'bravo') AND r.kind <> 'provision' ORDER BY t.slug, r.created_at");
      expect(runs).toEqual(["alpha", "bravo"].flatMap((slug) => [{ slug, kind: "preview", status: "SUCCEEDED" }, { slug, kind: "update", status: "FAILED" }, { slug, kind: "update", status: "SUCCEEDED" }]));
      expect((await fixed.app.inject({ method: "GET", url: "/api/v1/fleet?behind=true", headers: auth() })).json().total).toBe(0);
      const events = await sql(db.url, "SELECT type FROM outbox WHERE kind = 'event' AND type LIKE 'fleet.%' ORDER BY seq");
      expect(events.map((e) => e.type)).toEqual(["fleet.rollout_started", "fleet.rollout_halted", "fleet.rollout_wave_completed", "fleet.rollout_wave_completed", "fleet.rollout_completed"]);
    } finally {
      await fixed.close();
    }
  }, 90_000);
});
