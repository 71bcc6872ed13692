/**
 * Examples for the OpenAPI document: one per request body and per response,
 * keyed by operation (`METHOD /path` as the document writes it) and status
 * code. They are added to the document where a route's schema carries none
 * (app.ts), and test/server/openapi.test.ts checks that every body and answer
 * has one and that each one is valid against its schema, so an example that
 * no longer matches the API fails the suite rather than misleading a reader.
 */
import { PHASES } from "../../model/phases.ts";
import type { Tier } from "../../model/tiers.ts";
import { profileJson } from "./tenants.ts";
import { FLEET_CHANGE_EXAMPLES } from "./fleet-change-examples.ts";

const TENANT_ID = "6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60";
const RUN_ID = "0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f";
const UPDATE_RUN_ID = "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";
const CHANGE_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
const CHECK_ID = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const DRIFT_RUN_ID = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";
const BACKUP_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
const T0 = "2026-12-07T09:00:00.000Z";
const T1 = "2026-12-07T09:04:12.000Z";
const T2 = "2026-12-07T10:15:00.000Z";
const T3 = "2026-12-07T10:16:30.000Z";
const URN = (type: string, name: string) => `urn:pulumi:acme::matih-tenant::matih:tenant:Phase$${type}::${name}`;

const tenant = (status = "ACTIVE", tier: Tier = "professional") => ({
  id: TENANT_ID, slug: "acme", displayName: "Acme Corp", tier, region: "eastus", adminEmail: "admin@acme.example",
  requestedBy: "control-plane", requestedAt: T0, status,
  provisioningStartedAt: T0, provisioningCompletedAt: status === "PROVISIONING" ? null : T1, provisioningError: null,
  outputs: status === "PROVISIONING" ? {} : { namespace: "matih-acme", databaseSchema: "tenant_acme", urls: { api: "https://acme.matih.ai/api", bi: "https://bi.acme.matih.ai" } },
  profile: profileJson(tier), createdAt: T0, updatedAt: T1,
});

const phases = PHASES.map((p, i) => ({
  number: p.number, name: p.name, status: "SUCCEEDED", attempts: 1,
  startedAt: `2026-12-07T09:0${Math.floor(i / 3)}:${String((i % 3) * 20).padStart(2, "0")}.000Z`,
  completedAt: `2026-12-07T09:0${Math.floor(i / 3)}:${String((i % 3) * 20 + 15).padStart(2, "0")}.000Z`,
  durationMs: 15_000, error: null, resources: { done: 4, pending: 0 }, steps: [] as unknown[],
}));

const status = {
  tenantId: TENANT_ID, slug: "acme", status: "ACTIVE",
  run: { id: RUN_ID, kind: "provision", status: "SUCCEEDED", attempt: 1, maxAttempts: 3, targetPhase: 10, startedAt: T0, completedAt: T1, durationMs: 252_000 },
  currentPhase: { number: 10, name: PHASES[9]!.name }, progress: 100, phases,
  startedAt: T0, completedAt: T1, durationMs: 252_000, error: null, waiting: null,
};

const change = (status = "PENDING_REVIEW") => ({
  id: CHANGE_ID, tenantId: TENANT_ID, kind: "update", status,
  requested: { tier: "enterprise", reason: "more users" }, target: { tier: "enterprise", lastPhase: 10 },
  createdBy: "admin", createdAt: T2, expiresAt: "2026-12-08T10:15:00.000Z", previewedAt: "2026-12-07T10:15:04.000Z",
  preview: {
    changeSummary: { create: 1, update: 1, replace: 0, delete: 0, same: 60 },
    destructive: false, destructiveResources: [],
    changes: [
      { urn: URN("Namespace", "namespace-quota"), type: "kubernetes:core/v1:ResourceQuota", name: "namespace-quota", phase: { number: 1, name: PHASES[0]!.name }, op: "update", diffs: [{ path: "spec.hard.pods", old: "50", new: "200" }] },
      { urn: URN("Database", "database-server"), type: "azure-native:dbforpostgresql:Server", name: "database-server", phase: { number: 2, name: PHASES[1]!.name }, op: "create", diffs: [{ path: "sku.name", new: "Standard_D4ds_v5" }] },
    ],
  },
  error: null, rejectionReason: status === "REJECTED" ? "not this quarter" : null,
  decidedBy: status === "PENDING_REVIEW" ? null : "admin-2", decidedAt: status === "PENDING_REVIEW" ? null : T3,
  allowDestructive: false, appliedAt: null, runId: null,
});

/** A restore request (POST /api/v1/tenants/{id}/restore): no preview, its backup named in `requested`. */
const restoreRequest = (status = "PENDING_REVIEW") => ({
  ...change(status), kind: "restore",
  requested: {
    backupId: BACKUP_ID,
    backup: { id: BACKUP_ID, tenantId: TENANT_ID, schemaName: "tenant_acme", reason: "manual", sizeBytes: 48_213, createdAt: T2 },
    replaces: "everything now in acme's database schema, backed up first (reason before-restore)",
  },
  target: { tier: "professional", lastPhase: 10 }, previewedAt: null, preview: null,
  appliedAt: status === "APPLIED" ? T3 : null,
});

const queuedRun = (kind: string, targetPhase = 10) => ({ id: RUN_ID, kind, status: "QUEUED", targetPhase });

const driftedResource = {
  urn: URN("Namespace", "namespace-quota"), type: "kubernetes:core/v1:ResourceQuota", phase: { number: 1, name: PHASES[0]!.name },
  drift: "changed", properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: "50", actual: "99" }],
};

const driftRun = {
  id: DRIFT_RUN_ID, trigger: "schedule", requestedBy: "schedule", status: "SUCCEEDED", total: 120, checked: 119, drifted: 2, failed: 0, skipped: 1,
  error: null, createdAt: T2, startedAt: T2, finishedAt: T3,
};

const backup = (reason = "manual") => ({
  id: BACKUP_ID, tenantId: TENANT_ID, runId: null, reason, requestedBy: "admin", schemaName: "tenant_acme", source: "tenants.postgres.example:5432/matih",
  store: "local", location: `${BACKUP_ID}.dump`, sizeBytes: 48_213, sha256: "9f2c4e1ab37d5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
  format: "pg_dump custom", createdAt: T2, expiresAt: "2027-01-06T10:15:00.000Z", removedAt: null,
});

const error = (code: string, message: string, details?: unknown) => ({ code, message, ...(details === undefined ? {} : { details }) });

/** The error example for a status code when an operation names none of its own. */
export const ERROR_EXAMPLES: Record<string, unknown> = {
  400: error("invalid_request", "the request body is invalid", [{ field: "tier", message: "must be one of free, professional, enterprise" }]),
  401: error("unauthorized", "send a valid bearer token in the Authorization header"),
  403: error("forbidden", "this token may only read; changes need an admin token"),
  404: error("not_found", 'tenant "acme" was not found'),
  409: error("run_in_progress", "tenant acme has a provision run in progress; try again once it has finished"),
  415: error("unsupported_media_type", "send the body as application/json"),
  429: error("too_many_pending_runs", "the principal control-plane has 50 runs queued or running, the most allowed (MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL); nothing was queued", { limit: "MATIH_MAX_PENDING_RUNS_PER_PRINCIPAL", max: 50, current: 50 }),
  422: error("idempotency_key_reused", "this Idempotency-Key was used with a different request; use a new key for a new request"),
  500: error("internal_error", "something went wrong on the service's side; quote request id req-1a2b"),
  502: error("engine_error", "the engine could not compute the result: the Pulumi CLI exited with code 255"),
  503: { ready: false },
};

/** Per operation: the request body's example, and answers by status code (errors fall back to ERROR_EXAMPLES). */
export const OPERATION_EXAMPLES: Record<string, { request?: unknown; responses: Record<string, unknown> }> = {
  "POST /api/v1/tenants": {
    request: { slug: "acme", displayName: "Acme Corp", tier: "professional", region: "eastus", adminEmail: "admin@acme.example" },
    responses: { 200: { tenant: tenant(), run: queuedRun("provision") }, 202: { tenant: tenant("PROVISIONING"), run: queuedRun("provision") } },
  },
  "GET /api/v1/tenants": { responses: { 200: { items: [tenant()], total: 1, limit: 50, offset: 0 } } },
  "GET /api/v1/tenants/{id}": { responses: { 200: tenant() } },
  "GET /api/v1/tenants/{id}/provisioning/status": { responses: { 200: status } },
  "POST /api/v1/tenants/{id}/provisioning/retry": { responses: { 202: { tenant: tenant("PROVISIONING"), run: queuedRun("retry") } } },
  "POST /api/v1/tenants/{id}/rollback": { request: { targetPhase: 5 }, responses: { 202: { tenant: tenant("FAILED"), run: queuedRun("rollback", 5) } } },
  "DELETE /api/v1/tenants/{id}": { request: { confirm: "acme" }, responses: { 202: { tenant: tenant("DEPROVISIONING"), run: queuedRun("teardown", 0) } } },
  "POST /api/v1/tenants/{id}/preview": {
    request: { tier: "enterprise" },
    responses: {
      200: {
        engine: "render", lastPhase: 10, changeSummary: { create: 1, update: 1, replace: 0, delete: 0, same: 60 }, durationMs: 412, included: "changes",
        phases: [{ number: 1, name: PHASES[0]!.name, changes: [{ urn: URN("Namespace", "namespace-quota"), type: "kubernetes:core/v1:ResourceQuota", op: "update", changedPaths: ["spec.hard.pods"], replaceReasons: [], diffs: [{ path: "spec.hard.pods", old: "50", new: "200" }] }] }],
      },
    },
  },
  "POST /api/v1/tenants/{id}/drift-check": {
    responses: { 200: { engine: "render", drifted: [driftedResource], durationMs: 38, state: "DRIFTED", recorded: true, checkId: CHECK_ID, notRecordedReason: null } },
  },
  "GET /api/v1/tenants/{id}/audit": {
    responses: { 200: { items: [{ id: 41, runId: RUN_ID, entity: "phase", phase: 3, actor: "tenant-service", from: "RUNNING", to: "SUCCEEDED", message: `phase 3 ${PHASES[2]!.name} succeeded`, details: { attempt: 1, action: "apply" }, createdAt: T1 }] } },
  },
  "POST /api/v1/tenants/{id}/changes": { request: { tier: "enterprise", reason: "more users" }, responses: { 202: { ...change("PREVIEWING"), preview: null, previewedAt: null } } },
  "GET /api/v1/tenants/{id}/changes": { responses: { 200: { items: [change()] } } },
  "GET /api/v1/tenants/{id}/changes/{changeId}": { responses: { 200: change() } },
  "POST /api/v1/tenants/{id}/changes/{changeId}/approve": {
    request: { allowDestructive: false },
    responses: {
      200: { change: restoreRequest("APPLIED"), tenant: tenant(), run: null, restored: backup(), safetyBackup: { ...backup("before-restore"), id: "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a", createdAt: T3 } },
      202: { change: change("APPROVED"), tenant: tenant("UPDATING"), run: { id: UPDATE_RUN_ID, kind: "update", status: "QUEUED", targetPhase: 10 } },
      502: error("restore_failed", `backup ${BACKUP_ID} does not match its recorded sha256 (9f2c…, the file's is 03ab…); it was not restored; the tenant's data is as it was`),
    },
  },
  "POST /api/v1/tenants/{id}/changes/{changeId}/reject": { request: { reason: "not this quarter" }, responses: { 200: change("REJECTED") } },
  "GET /api/v1/tenants/{id}/backups": { responses: { 200: { items: [backup()], total: 1, limit: 50, offset: 0 } } },
  "POST /api/v1/tenants/{id}/backups": { responses: { 201: backup(), 202: backup() } },
  "POST /api/v1/tenants/{id}/restore": {
    request: { backupId: BACKUP_ID },
    responses: { 202: restoreRequest() },
  },
  "POST /api/v1/drift/runs": { responses: { 202: { id: DRIFT_RUN_ID } } },
  "GET /api/v1/drift/runs/{id}": { responses: { 200: driftRun } },
  "GET /api/v1/drift": {
    responses: {
      200: {
        lastRun: driftRun, lastSuccessfulRun: driftRun, counts: { inSync: 117, drifted: 2, checkFailed: 0, unchecked: 1 },
        tenants: [{ tenantId: TENANT_ID, slug: "acme", tier: "professional", state: "DRIFTED", since: T3, driftedSince: T3, lastCheckedAt: T3 }],
      },
    },
  },
  "GET /api/v1/tenants/{id}/drift": {
    responses: {
      200: {
        tenantId: TENANT_ID, slug: "acme", state: "DRIFTED", since: T3, driftedSince: T3,
        items: [{ id: CHECK_ID, driftRunId: DRIFT_RUN_ID, state: "DRIFTED", reason: null, checkedAt: T3, durationMs: 38, resources: [driftedResource] }],
        total: 1, limit: 50, offset: 0,
      },
    },
  },
  "POST /api/v1/tenants/{id}/simulated-drift": {
    request: { kind: "edit", resource: "namespace-quota", path: "spec.hard.pods", value: "99" },
    responses: { 200: { tenantId: TENANT_ID, slug: "acme", resourcesDiffering: 1 } },
  },
  "GET /api/v1/fleet": {
    responses: {
      200: {
        items: [{
          id: TENANT_ID, slug: "acme", displayName: "Acme Corp", tier: "professional", region: "eastus", status: "ACTIVE",
          run: { id: RUN_ID, kind: "provision", status: "SUCCEEDED", attempt: 1, maxAttempts: 3, targetPhase: 10 },
          currentPhase: { number: 10, name: PHASES[9]!.name }, progress: 100, phases: phases.map((p) => p.status),
          startedAt: T0, completedAt: T1, durationMs: 252_000, error: null, drift: { state: "IN_SYNC", since: T3, lastCheckedAt: T3 },
          settingsVersion: 2, settingsAppliedAt: T1,
        }],
        total: 1, limit: 50, offset: 0, countsByStatus: { ACTIVE: 1 }, currentSettingsVersion: 2, countsByDrift: { IN_SYNC: 1 },
      },
    },
  },
  "GET /api/v1/events": {
    responses: {
      200: {
        items: [{
          seq: 17, sentAt: T1, attempts: 1, lastError: null,
          event: { specversion: "1.0", id: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", source: "/matih/tenant-provisioning", type: "tenant.provisioned", subject: TENANT_ID, time: T1, datacontenttype: "application/json", data: { tenantId: TENANT_ID, slug: "acme", tier: "professional", region: "eastus", durationMs: 252_000 } },
        }],
        nextAfter: 17,
      },
    },
  },
  "GET /api/v1/audit/verify": {
    responses: { 200: { ok: true, rows: 1842, head: { chainSeq: 1842, id: 1903, hash: "4e5d6c7b8a99a8b7c6d5e4f30112233445566778899aabbccddeeff00112233" }, broken: null } },
  },
  "GET /api/v1/session": { responses: { 200: { principal: "admin", scope: "admin" } } },
  "GET /api/v1/platform": {
    responses: { 200: { baseDomain: "matih.ai", tiers: ["free", "professional", "enterprise"], regions: ["eastus", "westeurope"], phases: PHASES.map((p) => ({ number: p.number, name: p.name, summary: "what the phase sets up" })) } },
  },
  "GET /api/v1/platform/settings": {
    responses: { 200: { version: 2, settings: { baseDomain: "matih.ai", charts: { repository: "https://charts.matih.ai", version: "1.0.1" }, images: { registry: "matih.azurecr.io", defaultTag: "1.4.2" } }, createdAt: T2, createdBy: "ops@example.com", reason: "charts 1.0.1: fixes the ingress timeout" } },
  },
  "GET /api/v1/platform/settings/versions": {
    responses: {
      200: {
        items: [
          { version: 2, createdAt: T2, createdBy: "ops@example.com", reason: "charts 1.0.1: fixes the ingress timeout", changedPaths: ["charts.version"] },
          { version: 1, createdAt: T0, createdBy: "service start", reason: "first version, seeded from MATIH_PLATFORM_SETTINGS_FILE (/etc/matih/settings.json)", changedPaths: [] },
        ],
        total: 2, limit: 50, offset: 0,
      },
    },
  },
  "GET /api/v1/changes": {
    responses: {
      200: {
        items: [{
          kind: "tenant", id: CHANGE_ID, action: "update", status: "PENDING_REVIEW",
          tenant: { id: TENANT_ID, slug: "acme", tier: "professional", status: "ACTIVE" }, target: { tier: "enterprise", lastPhase: 10 },
          requestedBy: "admin", reason: "more capacity", createdAt: T2, expiresAt: "2026-12-08T10:15:00.000Z", destructive: false,
          changeSummary: { create: 4, update: 2, replace: 0, delete: 0, same: 40 }, href: `/api/v1/tenants/${TENANT_ID}/changes/${CHANGE_ID}`,
        }],
        total: 1, limit: 50, offset: 0,
      },
    },
  },
  "GET /healthz": { responses: { 200: { status: "ok" } } },
  "GET /readyz": { responses: { 200: { ready: true, checks: { database: { ok: true, detail: "reachable" } } }, 503: { ready: false, checks: { database: { ok: false, detail: "connection refused" } } } } },
  "GET /metrics": { responses: { 200: "# HELP matih_workers Warm worker processes by state\n# TYPE matih_workers gauge\nmatih_workers{state=\"idle\"} 2\n" } },
  ...FLEET_CHANGE_EXAMPLES,
};
