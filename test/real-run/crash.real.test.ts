/**
 * A real run killed mid-phase: the service is SIGKILLed while the real engine
 * installs phase 3's Helm releases, then started again on the same data
 * directory and database. The run must complete with no lock left behind, no
 * release installed twice and no phase run twice. Skipped, with the reason,
 * when no local cluster is up; under CI=true it fails instead.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { api as adminApi, kubectlJson, probeLocalCluster, waitUntil, type LocalCluster } from "../support/local-cluster.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const cluster = await probeLocalCluster();
const database = await probePostgres();
const skipReason = !cluster.available ? cluster.reason : !database.available ? database.reason : "";
const SLUG = "rr-crash";
type Json = any;
const api = (base: string, method: string, url: string, body?: unknown) => adminApi(base, ADMIN_TOKEN, method, url, body);



describe.skipIf(skipReason !== "")(`a real run killed with SIGKILL in phase 3${skipReason ? ` [skipped: ${skipReason}]` : ""}`, () => {
  const local = cluster as LocalCluster;
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }, 600_000);

  it("completes after a restart, with no lock left, no release installed twice and no phase run twice", async () => {
    const db = await freshDatabase("matih_real_crash");
    cleanup.push(() => db.drop());
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-real-crash-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = {
      ...local.env,
      DATABASE_URL: db.url,
      MATIH_DATA_DIR: dataDir,
      MATIH_ENGINE: "pulumi",
      PULUMI_CONFIG_PASSPHRASE: "real-run-passphrase",
      MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      // A killed run is taken again after its heartbeat lapses; its orphaned worker stops within the grace.
      MATIH_JOB_HEARTBEAT_SECONDS: "10",
      MATIH_CANCEL_GRACE_SECONDS: "5",
      MATIH_RETRY_DELAY_SECONDS: "2",
      PORT: "0",
      LOG_LEVEL: "info",
    };
    const start = async (): Promise<{ service: ServiceProcess; base: string }> => {
      const service = spawnService(env);
      cleanup.push(() => service.stop("SIGKILL"));
      return { service, base: await service.listening(300_000) };
    };

    const first = await start();
    const created = await api(first.base, "POST", "/api/v1/tenants", {
      slug: SLUG, displayName: "Real run crash", tier: "free", region: "eastus", adminEmail: `admin@${SLUG}.example`, lastPhase: 6,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    // Killed once phase 3 has started installing its releases.
    await waitUntil("phase 3 to start", 600_000, async () => {
      const status = (await api(first.base, "GET", `/api/v1/tenants/${SLUG}/provisioning/status`)).body;
      if (status.run?.status === "FAILED") throw new Error(`the run failed before phase 3: ${status.error}`);
      return status.phases[2].status === "RUNNING" ? status : undefined;
    }, 200);
    await first.service.stop("SIGKILL");

    const second = await start();
    const settled = await waitUntil(`${SLUG} to settle after the restart`, 900_000, async () => {
      const status = (await api(second.base, "GET", `/api/v1/tenants/${SLUG}/provisioning/status`)).body;
      return status.run && ["SUCCEEDED", "FAILED"].includes(status.run.status) && status.status !== "PROVISIONING" ? status : undefined;
    }, 2_000);
    expect([settled.status, settled.error], second.service.output().slice(-6000)).toEqual(["ACTIVE", null]);
    expect(settled.phases.slice(0, 6).map((p: Json) => p.status)).toEqual(Array(6).fill("SUCCEEDED"));

    // Each phase ran once: the audit log names every phase's start; phases done before the kill are not started again.
    const audit = (await api(second.base, "GET", `/api/v1/tenants/${SLUG}/audit?limit=500`)).body.items as Json[];
    const phaseRows = audit.filter((a) => a.entity === "phase");
    const started = (n: number) => phaseRows.filter((a) => a.phase === n && a.to === "RUNNING").length;
    expect([started(1), started(2)], JSON.stringify(phaseRows.map((a) => [a.phase, a.from, a.to, a.message]))).toEqual([1, 1]);

    // One release of each core service, deployed once: Helm's records in the namespace.
    const releases = ((await kubectlJson(["get", "secrets", "-n", `matih-${SLUG}`, "-l", "owner=helm"])).items as Json[]).map((s) => `${s.metadata.labels.name}:${s.metadata.labels.status}`);
    for (const name of ["query-engine", "ai-service", "catalog-service"]) {
      expect(releases.filter((r) => r.startsWith(`${name}:`)), name).toEqual([`${name}:deployed`]);
    }
    // No lock left in the file backend.
    const locks = await readdir(path.join(dataDir, "state", ".pulumi", "locks", "organization", "matih-tenants", SLUG)).catch(() => [] as string[]);
    expect(locks).toEqual([]);

    const deleted = await api(second.base, "DELETE", `/api/v1/tenants/${SLUG}?confirm=${SLUG}`);
    expect(deleted.status).toBe(202);
    await waitUntil(`${SLUG} to be deleted`, 600_000, async () => ((await api(second.base, "GET", `/api/v1/tenants/${SLUG}/provisioning/status`)).body.status === "DELETED" ? true : undefined), 2_000);
  }, 1_800_000);
});
