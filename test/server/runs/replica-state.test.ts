/**
 * What a tenant's stack needs from the Pulumi CLI's work directory (its
 * secrets settings) and what a change needs from the previewing process's
 * data directory (the saved plan file) are kept in the database, so that the
 * next operation can run in any process. Two run executors on one database
 * stand for two service processes; their engines are stubs that record the
 * requests they get and report what a Pulumi engine reports.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { OperationResultBase, PreviewRequest, PreviewResult, ProvisionRequest, ProvisionResult, SavedPlan, StackSecretsSettings, TeardownRequest, TeardownResult, TenantEngine } from "../../../automation/index.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import type { RunJob } from "../../../server/db/job-queue.ts";
import { RunExecutor } from "../../../server/runs/run-executor.ts";
import { probePostgres } from "../../support/postgres.ts";
import { auth, freshDatabase, startService, tenantRequest, type TestService } from "../../support/service.ts";

const pgAvailable = await probePostgres();

const SETTINGS: StackSecretsSettings = { encryptionSalt: "v1:c2FsdA==:v1:Zm9v:YmFy" };
const PLAN_CONTENT = JSON.stringify({ manifest: { version: "v3.276.0" }, resourcePlans: { "urn:pulumi:twohosts::matih-tenants::kubernetes:core/v1:Secret::creds": { state: { data: { ciphertext: "v1:abc:def" } } } } }, null, 4);

function base(operation: OperationResultBase["operation"], slug: string): OperationResultBase {
  const now = new Date().toISOString();
  return {
    operation, engine: "pulumi", slug, status: "succeeded", error: null,
    changeSummary: { create: 0, update: 0, replace: 0, delete: 0, same: 0 }, phases: [], startedAt: now, finishedAt: now, durationMs: 1,
  };
}

/** A stub engine that records each request and answers as the Pulumi engine does, settings included. */
function stubEngine(calls: { operation: string; request: ProvisionRequest | PreviewRequest | TeardownRequest }[], reported: StackSecretsSettings | null, plan?: SavedPlan): TenantEngine {
  return {
    kind: "pulumi",
    changesInfrastructure: true,
    async provision(request: ProvisionRequest): Promise<ProvisionResult> {
      calls.push({ operation: "provision", request });
      return { ...base("provision", request.spec.slug), operation: "provision", lastPhase: request.lastPhase ?? 10, outputs: {}, stackSettings: reported };
    },
    async preview(request: PreviewRequest): Promise<PreviewResult> {
      calls.push({ operation: "preview", request });
      return { ...base("preview", request.spec.slug), operation: "preview", lastPhase: request.lastPhase ?? 10, changes: [], plan: plan ?? null, stackSettings: reported };
    },
    async teardown(request: TeardownRequest): Promise<TeardownResult> {
      calls.push({ operation: "teardown", request });
      return { ...base("teardown", request.spec.slug), operation: "teardown", stackRemoved: true, alreadyAbsent: false, stackSettings: null };
    },
  } as unknown as TenantEngine;
}

describe.skipIf(!pgAvailable.available)("a tenant's stack settings and a change's plan, kept in the database for every process", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("records the settings an operation reports and hands them to the next one in another process; keeps the plan's contents with the change and hands them to the update there; forgets the settings with the stack", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    // A service that runs no jobs itself: the test drives the two executors.
    const service: TestService = await startService(db.url, { MATIH_WORKER: "false" });
    cleanup.push(() => service.close());
    const bus = (service.app as unknown as { bus: never }).bus;
    const log = { info() {}, warn() {}, error() {} };
    const poolA = new pg.Pool({ connectionString: db.url });
    const poolB = new pg.Pool({ connectionString: db.url });
    cleanup.push(() => poolA.end(), () => poolB.end());
    const sql = async (text: string, values: unknown[] = []) => (await poolA.query(text, values)).rows;
    const jobOf = async (runId: string, tenantId: string): Promise<RunJob> => {
      const [row] = await sql(`SELECT job_id AS "jobId" FROM provisioning_runs WHERE id = $1`, [runId]);
      return { id: row.jobId, data: { runId, tenantId }, retryCount: 0, retryLimit: 2, signal: new AbortController().signal };
    };

    const content = PLAN_CONTENT;
    const plan: SavedPlan = {
      id: "20260212100000000-abcd1234", slug: "twohosts", engine: "pulumi", lastPhase: 2, file: "/host-a/data/plans/twohosts/20260212100000000-abcd1234.json",
      createdAt: "2026-02-12T10:00:00.000Z", sha256: createHash("sha256").update(content).digest("hex"), content,
    };
    const callsA: { operation: string; request: ProvisionRequest | PreviewRequest | TeardownRequest }[] = [];
    const callsB: typeof callsA = [];
    const executorA = new RunExecutor({ pool: poolA, engine: stubEngine(callsA, SETTINGS, plan), bus, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log });
    const executorB = new RunExecutor({ pool: poolB, engine: stubEngine(callsB, SETTINGS), bus, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log });

    // Process A provisions the tenant: the stack is created, and its settings are recorded.
    const created = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("twohosts", "free", { lastPhase: 1 }) })).json();
    const tenantId = created.tenant.id as string;
    await executorA.execute(await jobOf(created.run.id, tenantId));
    expect(callsA[0]!.request.stackSettings).toBeNull();
    expect(await sql(`SELECT stack_name, secrets_provider, encrypted_key, encryption_salt FROM tenant_stack_settings`)).toEqual([
      { stack_name: "twohosts", secrets_provider: null, encrypted_key: null, encryption_salt: SETTINGS.encryptionSalt },
    ]);

    // A previews a change and saves its plan: the contents go with the change, apart from the reference.
    const requested = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes`, headers: auth(), payload: { tier: "professional", lastPhase: 2 } });
    expect(requested.statusCode, requested.body).toBe(202);
    const changeId = requested.json().id as string;
    const [previewRun] = await sql(`SELECT id FROM provisioning_runs WHERE change_id = $1 AND kind = 'preview'`, [changeId]);
    await executorA.execute(await jobOf(previewRun.id, tenantId));
    expect(callsA[1]!.request.stackSettings).toEqual(SETTINGS);
    const [kept] = await sql(`SELECT status, plan, plan_content FROM tenant_changes WHERE id = $1`, [changeId]);
    expect(kept.status).toBe("PENDING_REVIEW");
    const { content: _content, ...reference } = plan;
    expect(kept.plan).toEqual(reference);
    expect(kept.plan_content).toBe(content);
    const read = await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes/${changeId}`, headers: auth() });
    expect(read.body).not.toContain("ciphertext");

    // Process B applies the approved change: the plan with its contents, and the stack's settings.
    const approved = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes/${changeId}/approve`, headers: auth(), payload: {} });
    expect(approved.statusCode, approved.body).toBe(202);
    await executorB.execute(await jobOf(approved.json().run.id, tenantId));
    const update = callsB[0]!.request as ProvisionRequest;
    expect(update.plan).toEqual(plan);
    expect(update.planMode).toBe("exact");
    expect(update.stackSettings).toEqual(SETTINGS);
    expect((await sql(`SELECT status FROM tenant_changes WHERE id = $1`, [changeId]))[0].status).toBe("APPLIED");

    // B tears the tenant down: the settings go with the stack.
    const deleted = await service.app.inject({ method: "DELETE", url: `/api/v1/tenants/${tenantId}?confirm=twohosts`, headers: auth() });
    expect(deleted.statusCode, deleted.body).toBe(202);
    await executorB.execute(await jobOf(deleted.json().run.id, tenantId));
    expect(callsB[1]).toMatchObject({ operation: "teardown", request: { stackSettings: SETTINGS } });
    expect(await sql(`SELECT stack_name FROM tenant_stack_settings`)).toEqual([]);
    expect((await sql(`SELECT status FROM tenants WHERE id = $1`, [tenantId]))[0].status).toBe("DELETED");
  }, 60_000);
});
