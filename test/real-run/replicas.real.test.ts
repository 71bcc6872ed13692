/**
 * Real runs on two service processes, one after the other, each with its own
 * data directory, on one PostgreSQL database and one state backend (a file
 * backend directory both mount at the same path, declared shared), with the
 * real `pulumi` CLI against the local cluster (scripts/local-cluster).
 *
 * Process A creates a free tenant to phase 2 and previews a change to the
 * professional tier, saving its plan; then A stops. Process B, whose data
 * directory has never seen the tenant, approves the change and applies
 * exactly the saved plan, under the stack's own secrets settings, then tears
 * the tenant down. Without the service keeping the stack's settings and the
 * plan's contents for every process, B finds no plan (the change goes STALE)
 * and its CLI makes a new passphrase salt, under which the plan's secrets do
 * not decrypt.
 *
 * Skipped, with the reason, when no local cluster is up; under CI=true a
 * missing cluster fails the suite (.ci/run starts one).
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { api as adminApi, kubectl, kubectlJson, probeLocalCluster, waitUntil, type LocalCluster } from "../support/local-cluster.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const cluster = await probeLocalCluster();
const database = await probePostgres();
const skipReason = !cluster.available ? cluster.reason : !database.available ? database.reason : "";

const SLUG = "rp-replica";
const NAMESPACE = `matih-${SLUG}`;
const PASSPHRASE = "replicas-real-run-passphrase";
const PROFESSIONAL_QUOTA = { "requests.cpu": "8", "limits.cpu": "16", "requests.memory": "16Gi", "limits.memory": "32Gi", pods: "50" };
const SETTLE_MS = 8 * 60_000;

type Json = any;
const api = (base: string, method: string, url: string, body?: unknown) => adminApi(base, ADMIN_TOKEN, method, url, body);



/** The secrets settings in a work directory's `Pulumi.<stack>.yaml`, as the CLI wrote or the engine restored them. */
async function settingsFileSalt(dataDir: string): Promise<string | null> {
  const text = await readFile(path.join(dataDir, "workspaces", SLUG, `Pulumi.${SLUG}.yaml`), "utf8").catch(() => "");
  return /^encryptionsalt:\s*(\S+)\s*$/m.exec(text)?.[1] ?? null;
}

const settled = (s: Json) => s?.run && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.run.status) && !["PROVISIONING", "UPDATING", "DEPROVISIONING"].includes(s.status);

describe.skipIf(skipReason !== "")(`two service processes on one database and one state backend, with the real CLI${skipReason ? ` [skipped: ${skipReason}]` : ""}`, () => {
  const local = cluster as LocalCluster;
  const cleanup: (() => Promise<unknown>)[] = [];
  let sql: pg.Pool;
  let backendDir = "";
  let dataA = "";
  let dataB = "";
  let env: Record<string, string> = {};
  let running: { service: ServiceProcess; base: string } | null = null;
  let tenantId = "";
  let changeId = "";
  let recordedSalt = "";
  let planContent = "";
  let tornDown = false;

  async function start(dataDir: string): Promise<{ service: ServiceProcess; base: string }> {
    const service = spawnService({ ...env, MATIH_DATA_DIR: dataDir });
    running = { service, base: "" };
    running.base = await service.listening(240_000);
    return running;
  }

  async function stop(): Promise<void> {
    if (!running) return;
    await running.service.stop("SIGTERM");
    running = null;
  }

  const status = async (base: string) => (await api(base, "GET", `/api/v1/tenants/${SLUG}/provisioning/status`)).body;

  beforeAll(async () => {
    const db = await freshDatabase("matih_replicas");
    cleanup.push(() => db.drop());
    sql = new pg.Pool({ connectionString: db.url, max: 2 });
    cleanup.push(() => sql.end());
    backendDir = await mkdtemp(path.join(tmpdir(), "matih-replicas-backend-"));
    dataA = await mkdtemp(path.join(tmpdir(), "matih-replicas-a-"));
    dataB = await mkdtemp(path.join(tmpdir(), "matih-replicas-b-"));
    for (const dir of [backendDir, dataA, dataB]) cleanup.push(() => rm(dir, { recursive: true, force: true }));
    env = {
      ...local.env,
      DATABASE_URL: db.url,
      MATIH_ENGINE: "pulumi",
      // One backend directory for both, at the same path; declared shared, as the backend claim asks of a file backend.
      PULUMI_BACKEND_URL: `file://${backendDir}`,
      MATIH_STATE_DIR_SHARED: "true",
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      MATIH_WORKERS: "1",
      MATIH_RETRY_DELAY_SECONDS: "5",
      MATIH_DRIFT_SCHEDULE: "off",
      PORT: "0",
      LOG_LEVEL: "info",
    };
  }, 60_000);

  afterAll(async () => {
    // Whatever happened, the tenant leaves the cluster: torn down by whichever process is up (B, or a new one).
    if (!tornDown && tenantId) {
      try {
        const { base } = running ?? (await start(dataB));
        const current = await status(base);
        if (current?.status !== "DELETED") {
          await waitUntil("the tenant to settle before its teardown", SETTLE_MS, async () => (settled(await status(base)) ? true : undefined)).catch(() => undefined);
          await api(base, "DELETE", `/api/v1/tenants/${SLUG}?confirm=${SLUG}`);
          await waitUntil("the tenant to be deleted", SETTLE_MS, async () => ((await status(base))?.status === "DELETED" ? true : undefined));
        }
      } catch (error) {
        console.error(`replicas real run: tearing ${SLUG} down after a failure failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await stop().catch(() => undefined);
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }, SETTLE_MS + 300_000);

  it("process A creates a free tenant to phase 2 and previews a change to professional: the stack's settings and the plan's contents are kept in the database", async () => {
    const { base } = await start(dataA);
    const created = await api(base, "POST", "/api/v1/tenants", { slug: SLUG, displayName: "Replicas real run", tier: "free", region: "eastus", adminEmail: `admin@${SLUG}.example`, lastPhase: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    tenantId = created.body.tenant.id;
    const provisioned = await waitUntil("the tenant to settle", SETTLE_MS, async () => {
      const s = await status(base);
      return settled(s) ? s : undefined;
    });
    expect({ status: provisioned.status, error: provisioned.error }, running!.service.output().slice(-4000)).toEqual({ status: "ACTIVE", error: null });

    // `stack init` on A made the passphrase salt; the service recorded it for every process.
    const saltA = await settingsFileSalt(dataA);
    expect(saltA).toMatch(/^v1:/);
    const rows = (await sql.query(`SELECT secrets_provider, encrypted_key, encryption_salt FROM tenant_stack_settings WHERE stack_name = $1`, [SLUG])).rows;
    expect(rows).toEqual([{ secrets_provider: null, encrypted_key: null, encryption_salt: saltA }]);
    recordedSalt = saltA!;

    const requested = await api(base, "POST", `/api/v1/tenants/${SLUG}/changes`, { tier: "professional", lastPhase: 2 });
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    changeId = requested.body.id;
    const previewed = await waitUntil("the change's preview", SETTLE_MS, async () => {
      const c = (await api(base, "GET", `/api/v1/tenants/${SLUG}/changes/${changeId}`)).body;
      return c?.status !== "PREVIEWING" ? c : undefined;
    });
    expect({ status: previewed.status, error: previewed.error }, running!.service.output().slice(-4000)).toEqual({ status: "PENDING_REVIEW", error: null });
    expect(previewed.preview.changeSummary.create + previewed.preview.changeSummary.update + previewed.preview.changeSummary.replace).toBeGreaterThan(0);

    // The plan's reference and, apart from it, the plan file's exact bytes, fingerprinted.
    const [change] = (await sql.query(`SELECT plan, plan_content FROM tenant_changes WHERE id = $1`, [changeId])).rows;
    expect(change.plan).toMatchObject({ slug: SLUG, engine: "pulumi", lastPhase: 2 });
    expect(change.plan.content).toBeUndefined();
    expect(change.plan.file.startsWith(path.join(dataA, "plans", SLUG))).toBe(true);
    planContent = change.plan_content;
    expect(planContent).toBe(await readFile(change.plan.file, "utf8"));
    expect(createHash("sha256").update(planContent).digest("hex")).toBe(change.plan.sha256);

    // Secret values are in the plan as ciphertext only: not the passphrase, the admin password, or the tenant's own password.
    const secret = await kubectlJson(["get", "secret", "tenant-database-credentials", "-n", NAMESPACE]);
    const tenantPassword = Buffer.from(secret.data.POSTGRES_PASSWORD, "base64").toString("utf8");
    expect(planContent).toContain("\"ciphertext\"");
    for (const [what, value] of [["passphrase", PASSPHRASE], ["admin password", local.env.MATIH_PG_ADMIN_PASSWORD!], ["tenant password", tenantPassword]] as const) {
      expect(planContent.includes(value), `${what} in the plan`).toBe(false);
    }
    await stop();
  }, 2 * SETTLE_MS);

  it("process B, with a data directory of its own, approves the change and applies exactly the saved plan under the stack's own secrets settings", async () => {
    expect(changeId, "the first test previewed a change").not.toBe("");
    const { base } = await start(dataB);
    const change = (await api(base, "GET", `/api/v1/tenants/${SLUG}/changes/${changeId}`)).body;
    const approved = await api(base, "POST", `/api/v1/tenants/${SLUG}/changes/${changeId}/approve`, { allowDestructive: change.preview.destructive });
    expect(approved.status, JSON.stringify(approved.body)).toBe(202);
    const updated = await waitUntil("the update to settle", SETTLE_MS, async () => {
      const s = await status(base);
      return settled(s) ? s : undefined;
    });
    const applied = (await api(base, "GET", `/api/v1/tenants/${SLUG}/changes/${changeId}`)).body;
    expect({ tenant: updated.status, error: updated.error, change: applied.status, run: updated.run.kind, attempt: updated.run.attempt }, running!.service.output().slice(-4000))
      .toEqual({ tenant: "ACTIVE", error: null, change: "APPLIED", run: "update", attempt: 1 });
    // On its first attempt an update is held to the plan (`up --plan`): B wrote the kept bytes to its own plan path.
    const [{ plan }] = (await sql.query(`SELECT plan FROM tenant_changes WHERE id = $1`, [changeId])).rows;
    expect(await readFile(path.join(dataB, "plans", SLUG, `${plan.id}.json`), "utf8")).toBe(planContent);

    // B ran with A's salt: restored into its work directory, and the checkpoint it wrote is encrypted under it.
    expect(await settingsFileSalt(dataB)).toBe(recordedSalt);
    const checkpoint = JSON.parse(await readFile(path.join(backendDir, ".pulumi", "stacks", "matih-tenants", `${SLUG}.json`), "utf8"));
    expect(checkpoint.checkpoint.latest.secrets_providers).toEqual({ type: "passphrase", state: { salt: recordedSalt } });
    expect((await sql.query(`SELECT encryption_salt FROM tenant_stack_settings WHERE stack_name = $1`, [SLUG])).rows).toEqual([{ encryption_salt: recordedSalt }]);

    // What the plan said happened: the professional tier's quota and its connection pool.
    expect((await sql.query(`SELECT tier FROM tenants WHERE id = $1`, [tenantId])).rows[0].tier).toBe("professional");
    expect((await kubectlJson(["get", "resourcequota", "tenant-quota", "-n", NAMESPACE])).spec.hard).toEqual(PROFESSIONAL_QUOTA);
    await kubectlJson(["get", "deployment", "pgbouncer", "-n", NAMESPACE]);
    const secret = await kubectlJson(["get", "secret", "tenant-database-credentials", "-n", NAMESPACE]);
    expect(new URL(Buffer.from(secret.data.DATABASE_URL, "base64").toString("utf8")).hostname).toBe(`pgbouncer.${NAMESPACE}.svc.cluster.local`);
  }, 2 * SETTLE_MS);

  it("process B tears the tenant down: nothing left in the cluster, and the stack and its recorded settings are gone", async () => {
    expect(running, "process B is up").not.toBeNull();
    const { base } = running!;
    const deleted = await api(base, "DELETE", `/api/v1/tenants/${SLUG}?confirm=${SLUG}`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(202);
    const gone = await waitUntil("the tenant to be deleted", SETTLE_MS, async () => {
      const s = await status(base);
      if (s?.run?.kind === "teardown" && s.run.status === "FAILED") throw new Error(`teardown failed: ${s.error}\n${running!.service.output().slice(-4000)}`);
      return s?.status === "DELETED" ? s : undefined;
    });
    tornDown = true;
    expect(gone.status).toBe("DELETED");
    await waitUntil(`namespace ${NAMESPACE} to go`, 120_000, async () => ((await kubectl(["get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name"])).trim() === "" ? true : undefined));
    expect((await sql.query(`SELECT stack_name FROM tenant_stack_settings`)).rows).toEqual([]);
    await expect(readFile(path.join(backendDir, ".pulumi", "stacks", "matih-tenants", `${SLUG}.json`))).rejects.toThrow();
  }, SETTLE_MS + 180_000);
});
