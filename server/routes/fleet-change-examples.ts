/** OpenAPI examples of the fleet change and rollout routes (routes/fleet-changes.ts), merged into examples.ts's. */
const FLEET_CHANGE_ID = "4b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d";
const ROLLOUT_ID = "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a";
const ALPHA = "6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60";
const BRAVO = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const CHARLIE = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const DELTA = "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f";
const CHANGE_OF = (n: number) => `${n}a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d`;
const T0 = "2026-12-07T10:15:00.000Z";
const T1 = "2026-12-07T10:20:00.000Z";
const T2 = "2026-12-07T10:24:30.000Z";

const patch = { images: { tags: { "ai-service": "2.0.0" }, pgbouncer: "bitnamilegacy/pgbouncer:1.24.2" } };
const release = { op: "update", type: "kubernetes:helm.sh/v3:Release", count: 1, paths: ["values.image.tag"] };
const deployment = { op: "update", type: "kubernetes:apps/v1:Deployment", count: 1, paths: ["spec.template.spec.containers[0].image"] };

const fleetChange = (status = "PENDING_REVIEW") => ({
  id: FLEET_CHANGE_ID, status, settingsPatch: patch, changedPaths: ["images.pgbouncer", "images.tags.ai-service"], baseVersion: 3,
  version: status === "APPROVED" ? 4 : null, selector: {}, reason: "ai-service 2.0.0 and PgBouncer 1.24.2", createdBy: "alice", createdAt: T0, previewedAt: T0,
  previewProgress: null, previewError: null, destructive: false,
  preview: {
    selected: 4,
    groups: [
      { tenants: 2, slugs: ["alpha", "bravo"], summary: "update 1 Release", changeSummary: { create: 0, update: 1, replace: 0, delete: 0, same: 90 }, changes: [release], destructive: false },
      { tenants: 1, slugs: ["charlie"], summary: "update 1 Deployment; update 1 Release", changeSummary: { create: 0, update: 2, replace: 0, delete: 0, same: 91 }, changes: [deployment, release], destructive: false },
      { tenants: 1, slugs: ["delta"], summary: "no change", changeSummary: { create: 0, update: 0, replace: 0, delete: 0, same: 17 }, changes: [], destructive: false },
    ],
    destructive: [], failed: [], notPreviewed: [],
  },
  decidedBy: status === "PENDING_REVIEW" ? null : "bob", decidedAt: status === "PENDING_REVIEW" ? null : T1,
  rejectionReason: status === "REJECTED" ? "wait for the 2.0.1 fix" : null, rolloutId: status === "APPROVED" ? ROLLOUT_ID : null,
});

const member = (tenantId: string, slug: string, wave: number, status: string, extra: { changeId?: string | null; runId?: string | null; reason?: string | null; attempts?: number } = {}) => ({
  tenantId, slug, wave, status, attempts: extra.attempts ?? (status === "PENDING" ? 0 : 1), changeId: extra.changeId ?? null, runId: extra.runId ?? null, reason: extra.reason ?? null, updatedAt: T2,
});

const rollout = (status = "RUNNING") => {
  const alpha = member(ALPHA, "alpha", 1, "SUCCEEDED", { changeId: CHANGE_OF(1), runId: "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d" });
  const bravo = member(BRAVO, "bravo", 2, status === "RUNNING" ? "APPLYING" : "SUCCEEDED", { changeId: CHANGE_OF(2), runId: "6c5b4a3d-2e1f-4b0a-9d8e-7f6a5b4c3d2e" });
  const charlie = member(CHARLIE, "charlie", 2, "HELD", { changeId: CHANGE_OF(3), reason: `its stack changed after the fleet preview (a update run): previewed again as change ${CHANGE_OF(3)}, awaiting review` });
  const delta = member(DELTA, "delta", 2, "UNCHANGED", { reason: "the new settings change none of its resources" });
  const done = status === "COMPLETED";
  return {
    id: ROLLOUT_ID, fleetChangeId: FLEET_CHANGE_ID, settingsVersion: 4, status,
    config: { canary: 1, growth: 3, concurrency: 4, canaryMaxFailures: 0, waveFailurePercent: 10, allowDestructive: false },
    currentWave: 2, waveCount: 2, haltedReason: null, createdBy: "bob", createdAt: T1, updatedAt: T2, finishedAt: done ? T2 : null,
    counts: done ? { SUCCEEDED: 2, HELD: 1, UNCHANGED: 1 } : { SUCCEEDED: 1, APPLYING: 1, HELD: 1, UNCHANGED: 1 },
    waves: [
      { number: 1, status: "completed", counts: { SUCCEEDED: 1 }, tenants: [alpha] },
      { number: 2, status: done ? "completed" : status.toLowerCase(), counts: done ? { SUCCEEDED: 1, HELD: 1, UNCHANGED: 1 } : { APPLYING: 1, HELD: 1, UNCHANGED: 1 }, tenants: [bravo, charlie, delta] },
    ],
    skipped: [],
    held: [charlie],
  };
};

export const FLEET_CHANGE_EXAMPLES: Record<string, { request?: unknown; responses: Record<string, unknown> }> = {
  "POST /api/v1/fleet/changes": {
    request: { settings: patch, reason: "ai-service 2.0.0 and PgBouncer 1.24.2", selector: { tiers: ["free", "professional"] } },
    responses: {
      201: fleetChange(),
      // The Pulumi engine: recorded at once, its tenants previewed in the background.
      202: { ...fleetChange("PREVIEWING"), previewedAt: null, previewProgress: { done: 0, total: 4 }, preview: { selected: 4, groups: [], destructive: [], failed: [], notPreviewed: [] } },
    },
  },
  "GET /api/v1/fleet/changes/{id}": { responses: { 200: fleetChange() } },
  "POST /api/v1/fleet/changes/{id}/approve": {
    request: { waves: { canary: 1, growth: 3, concurrency: 4 } },
    responses: { 202: { ...rollout(), counts: { PENDING: 4 }, waves: rollout().waves.map((w) => ({ ...w, status: w.number === 1 ? "running" : "pending", counts: { PENDING: w.tenants.length }, tenants: w.tenants.map((t) => ({ ...t, status: "PENDING", attempts: 0, changeId: null, runId: null, reason: null })) })), currentWave: 1, held: [] } },
  },
  "POST /api/v1/fleet/changes/{id}/reject": { request: { reason: "wait for the 2.0.1 fix" }, responses: { 200: fleetChange("REJECTED") } },
  "GET /api/v1/fleet/rollouts/{id}": { responses: { 200: rollout() } },
  "POST /api/v1/fleet/rollouts/{id}/pause": { responses: { 200: rollout("PAUSED") } },
  "POST /api/v1/fleet/rollouts/{id}/resume": { request: { retryFailed: true }, responses: { 200: rollout() } },
  "POST /api/v1/fleet/rollouts/{id}/abort": { responses: { 200: { ...rollout("ABORTED"), finishedAt: T2 } } },
};
