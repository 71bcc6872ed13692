import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { backendSharing, loadEngineConfig } from "../../automation/core/config.ts";
import { OperationGate } from "../../automation/core/operation-gate.ts";
import type { PulumiJob } from "../../automation/isolation/protocol.ts";
import { PulumiEngine } from "../../automation/pulumi/engine.ts";
import { runPulumiWorkerJob } from "../../automation/pulumi/operations.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { claimStateBackend } from "../../server/db/backend-claim.ts";
import { FakeWorkspaceFactory } from "../automation/fixtures/fake-workspace.ts";
import { InProcessRunner } from "../automation/helpers/in-process-runner.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const pgAvailable = await probePostgres();
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });
const silent = { info() {}, warn() {}, error() {} };

describe("which state backends service processes may share", () => {
  it("lets cloud backends and declared-shared directories be shared, and keeps a local directory to one process", () => {
    const config = (env: Record<string, string>) => loadEngineConfig({ MATIH_DATA_DIR: "/srv/matih", ...env });
    expect(backendSharing(config({})).mode).toBe("exclusive");
    expect(backendSharing(config({})).remedy).toMatch(/file:\/\/\/srv\/matih\/state.*azblob:\/\/.*MATIH_STATE_DIR_SHARED=true/s);
    expect(backendSharing(config({ MATIH_STATE_DIR_SHARED: "true" })).mode).toBe("shared");
    expect(backendSharing(config({ PULUMI_BACKEND_URL: "azblob://matih-state" })).mode).toBe("shared");
    expect(backendSharing(config({ PULUMI_BACKEND_URL: "https://api.pulumi.com" })).mode).toBe("shared");
    expect(() => config({ MATIH_STATE_DIR_SHARED: "maybe" })).toThrow(/MATIH_STATE_DIR_SHARED must be true or false/);
  });
});

describe.skipIf(!pgAvailable.available)("service processes on one database with the Pulumi engine", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** A whole service process with the Pulumi engine (its CLI replaced by the fake workspace). */
  async function startPulumiService(databaseUrl: string, env: Record<string, string> = {}) {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-sharing-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const fullEnv: NodeJS.ProcessEnv = {
      ...process.env, KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "", PULUMI_BACKEND_URL: "", MATIH_STATE_DIR_SHARED: "",
      MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PULUMI_CONFIG_PASSPHRASE: "not-a-real-passphrase", LOG_LEVEL: "silent", MATIH_WORKER: "false", ...env,
    };
    const factory = new FakeWorkspaceFactory();
    const engine = await PulumiEngine.start({
      config: loadEngineConfig(fullEnv),
      runner: new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env: fullEnv })),
      gate: new OperationGate({ maxConcurrent: 1 }),
      env: fullEnv,
      logger: silent,
      detectCli: cliFound,
    });
    const app = await buildService({ config: loadServiceConfig(fullEnv), databaseUrl, settings: resolvePlatformSettings(), env: fullEnv, engine, logger: false, shutdownGraceMs: 1_000 });
    try {
      await app.ready();
    } catch (error) {
      await app.close();
      throw error;
    }
    cleanup.push(() => app.close());
    return app;
  }

  it("refuses to start a second process while the first uses its own host's file backend, naming the first and the remedies", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const first = await startPulumiService(db.url);
    const second = startPulumiService(db.url);
    await expect(second).rejects.toThrow(/refusing to start: matih .* exclusive .* shares this database, and the state backend file:\/\/.*azblob:\/\/.*MATIH_STATE_DIR_SHARED=true/s);

    // A process with a cloud backend may not join one whose stacks sit on its own disk either.
    await expect(startPulumiService(db.url, { PULUMI_BACKEND_URL: "azblob://matih-state" })).rejects.toThrow(/state backend on its own host's disk/);

    // Once the first is gone (its session ends, as on a crash) the next one may start.
    await first.close();
    const third = await startPulumiService(db.url);
    await third.close();
  }, 60_000);

  it("lets several processes share the database when the backend is one they all reach, or the directory is declared shared", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const a = await startPulumiService(db.url, { PULUMI_BACKEND_URL: "azblob://matih-state" });
    const b = await startPulumiService(db.url, { PULUMI_BACKEND_URL: "azblob://matih-state" });
    await a.close();
    await b.close();
    const shared = { PULUMI_BACKEND_URL: "file:///mnt/matih-shared/state", MATIH_STATE_DIR_SHARED: "true" };
    const c = await startPulumiService(db.url, shared);
    const d = await startPulumiService(db.url, shared);
    // And a single process with its own directory still starts after they have gone.
    await c.close();
    await d.close();
    const alone = await startPulumiService(db.url);
    await alone.close();
  }, 60_000);

  it("forgets a process whose session ended without a goodbye", async () => {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const poolA = new pg.Pool({ connectionString: db.url, max: 2 });
    const poolB = new pg.Pool({ connectionString: db.url, max: 2 });
    cleanup.push(() => poolA.end(), () => poolB.end());
    const exclusive = backendSharing({ backendUrl: "file:///srv/matih/state", stateDirShared: false });
    const lost: Error[] = [];
    const first = await claimStateBackend(poolA, exclusive, { who: "host-a pid 1", onLost: (e) => lost.push(e) });
    await expect(claimStateBackend(poolB, exclusive, { who: "host-b pid 2" })).rejects.toThrow(/matih host-a pid 1 exclusive/);
    // Kill host-a's session from the server side, as a crash or a lost connection would end it.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'matih host-a%'");
    await admin.end();
    const claim = await claimStateBackend(poolB, exclusive, { who: "host-b pid 2" });
    await claim.release();
    // The first process is told its claim is gone instead of crashing on an unhandled error.
    expect(lost.length).toBeGreaterThan(0);
    await first.release();
  }, 30_000);
});
