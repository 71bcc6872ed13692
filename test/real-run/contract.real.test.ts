/**
 * The charts' contract checked against the cluster, for real: phase 5 reads
 * back every Service that `charts.services` says the matih charts create, so
 * a contract the charts do not keep fails phase 5 by name, instead of the
 * provider's Ingress wait warning and the tenant serving 503s at phase 8.
 *
 * The service runs with the local cluster's settings plus one Service the
 * bi-service chart does not create. A free tenant to phase 5 then fails at
 * phase 5 naming that Service, with phases 1-4 done; its teardown leaves
 * nothing in the cluster.
 *
 * Skipped, with the reason, when no local cluster is up; under CI=true a
 * missing cluster fails the suite (.ci/run starts one).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PLATFORM_SETTINGS } from "../../model/settings.ts";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { api as adminApi, kubectl, probeLocalCluster, waitUntil, type LocalCluster } from "../support/local-cluster.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const cluster = await probeLocalCluster();
const database = await probePostgres();
const skipReason = !cluster.available ? cluster.reason : !database.available ? database.reason : "";

const SLUG = "rc-contract";
const NAMESPACE = `matih-${SLUG}`;
const SETTLE_MS = 8 * 60_000;

type Json = any;
const settled = (s: Json) => s?.run && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.run.status) && !["PROVISIONING", "UPDATING", "DEPROVISIONING"].includes(s.status);

describe.skipIf(skipReason !== "")(`the charts' contract, read back from the cluster by phase 5${skipReason ? ` [skipped: ${skipReason}]` : ""}`, () => {
  const local = cluster as LocalCluster;
  const cleanup: (() => Promise<unknown>)[] = [];
  let service: ServiceProcess;
  let base = "";
  const api = (method: string, url: string, body?: unknown) => adminApi(base, ADMIN_TOKEN, method, url, body);
  const status = async () => (await api("GET", `/api/v1/tenants/${SLUG}/provisioning/status`)).body;

  beforeAll(async () => {
    const db = await freshDatabase("matih_contract");
    cleanup.push(() => db.drop());
    const dir = await mkdtemp(path.join(tmpdir(), "matih-contract-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // The cluster's settings, and a contract that says bi-service also creates `bi-extra` (it does not).
    const services = { ...DEFAULT_PLATFORM_SETTINGS.charts.services, "bi-service": [...DEFAULT_PLATFORM_SETTINGS.charts.services["bi-service"]!, { service: "bi-extra", port: 9000 }] };
    const settingsFile = path.join(dir, "platform-settings.json");
    const settings = JSON.parse(JSON.stringify(local.settings));
    settings.charts = { ...settings.charts, services };
    await writeFile(settingsFile, JSON.stringify(settings));
    service = spawnService({
      ...local.env,
      MATIH_PLATFORM_SETTINGS_FILE: settingsFile,
      DATABASE_URL: db.url,
      MATIH_DATA_DIR: path.join(dir, "data"),
      MATIH_ENGINE: "pulumi",
      PULUMI_CONFIG_PASSPHRASE: "contract-real-run-passphrase",
      MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      MATIH_WORKERS: "1",
      MATIH_MAX_ATTEMPTS: "1",
      MATIH_DRIFT_SCHEDULE: "off",
      PORT: "0",
      LOG_LEVEL: "info",
    });
    cleanup.push(() => service.stop("SIGTERM"));
    base = await service.listening(240_000);
  }, 300_000);

  afterAll(async () => {
    try {
      const current = base ? await status() : null;
      if (current?.status && current.status !== "DELETED") {
        // Whatever happened, the tenant leaves the cluster (without a backup: this is cleanup).
        await waitUntil("the tenant's run to finish before its teardown", SETTLE_MS, async () => (["SUCCEEDED", "FAILED", "CANCELLED"].includes((await status())?.run?.status) ? true : undefined)).catch(() => undefined);
        await api("DELETE", `/api/v1/tenants/${SLUG}?confirm=${SLUG}`, { skipBackup: true });
        await waitUntil("the tenant to be deleted", SETTLE_MS, async () => ((await status())?.status === "DELETED" ? true : undefined));
      }
    } finally {
      for (const step of cleanup.reverse()) await step().catch(() => undefined);
    }
  }, SETTLE_MS + 120_000);

  it("fails phase 5 naming the Service the chart does not create, after phases 1-4 succeeded", async () => {
    const created = await api("POST", "/api/v1/tenants", { slug: SLUG, displayName: "Contract real run", tier: "free", region: "eastus", adminEmail: `admin@${SLUG}.example`, lastPhase: 5 });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const final = await waitUntil("the tenant to settle", SETTLE_MS, async () => {
      const s = await status();
      return settled(s) ? s : undefined;
    });
    const phases = final.phases as Json[];
    expect({ tenant: final.status, phases: phases.slice(0, 5).map((p) => p.status) }, service.output().slice(-4000))
      .toEqual({ tenant: "FAILED", phases: ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED"] });
    expect(JSON.stringify(final.error ?? phases[4])).toContain("bi-extra");
    // The chart's real Services are there; the contract's extra one never was.
    const names = (await kubectl(["get", "services", "-n", NAMESPACE, "-o", "name"])).split("\n");
    expect(names).toContain("service/bi-workbench");
    expect(names).not.toContain("service/bi-extra");
  }, SETTLE_MS + 60_000);

  it("tears the failed tenant down, leaving its namespace gone", async () => {
    const deleted = await api("DELETE", `/api/v1/tenants/${SLUG}?confirm=${SLUG}`);
    expect([202, 200], JSON.stringify(deleted.body)).toContain(deleted.status);
    // A teardown that fails leaves the tenant DEPROVISIONING with its run FAILED: stop waiting then too.
    const final = await waitUntil("the teardown to finish", SETTLE_MS, async () => {
      const s = await status();
      return s?.status === "DELETED" || (s?.run?.kind === "teardown" && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.run.status)) ? s : undefined;
    });
    // (The tenant keeps its provisioning error for the record; the teardown run's own outcome is what counts.)
    expect({ status: final.status, run: final.run?.kind, outcome: final.run?.status }, service.output().slice(-4000)).toEqual({ status: "DELETED", run: "teardown", outcome: "SUCCEEDED" });
    await waitUntil("the namespace to go", 120_000, async () => ((await kubectl(["get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name"])).trim() === "" ? true : undefined));
  }, SETTLE_MS + 180_000);
});
