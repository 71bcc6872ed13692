import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createEngine, isInfrastructureError } from "../../../automation/index.ts";
import { FileRenderStateStore, type RenderStateStore } from "../../../automation/render/store.ts";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { buildService } from "../../../server/build.ts";
import { loadServiceConfig } from "../../../server/config.ts";
import { AttemptFailedError, RunExecutor } from "../../../server/runs/run-executor.ts";
import { probePostgres } from "../../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, tenantRequest, waitForStatus } from "../../support/service.ts";

/** What node-postgres throws when the server ends a connection under a query. */
const DRIVER_TEXT = "terminating connection due to administrator command";
const adminShutdown = () => Object.assign(new Error(DRIVER_TEXT), { code: "57P01", severity: "FATAL" });

describe("which errors are the service's own infrastructure trouble", () => {
  it("counts lost connections, serialization failures, deadlocks and lost statements, and nothing the request caused", () => {
    for (const code of ["08006", "08P01", "40001", "40P01", "57P01", "26000", "34000", "53300", "ECONNRESET", "ECONNREFUSED"]) {
      expect(isInfrastructureError(Object.assign(new Error("x"), { code })), code).toBe(true);
    }
    expect(isInfrastructureError(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isInfrastructureError(new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "40P01" }) }))).toBe(true);
    for (const code of ["23505", "42601", "22P02", "ENOENT"]) {
      expect(isInfrastructureError(Object.assign(new Error("x"), { code })), code).toBe(false);
    }
    expect(isInfrastructureError(new Error("phase 6 failed"))).toBe(false);
    expect(isInfrastructureError(null)).toBe(false);
  });

  it("makes a run attempt whose database connection breaks retry, with the driver's text only in the log", async () => {
    const logged: { obj: object; msg: string }[] = [];
    const log = { info: () => undefined, warn: (obj: object, msg: string) => logged.push({ obj, msg }), error: (obj: object, msg: string) => logged.push({ obj, msg }) };
    const pool = { connect: async () => { throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }); } } as unknown as pg.Pool;
    const executor = new RunExecutor({ pool, engine: {} as never, bus: {} as never, settings: resolvePlatformSettings(), rollbackPolicy: "keep", log });
    const attempt = executor.execute({ id: "job-1", data: { runId: "run-1", tenantId: "t-1" }, retryCount: 0, retryLimit: 2 });
    await expect(attempt).rejects.toBeInstanceOf(AttemptFailedError);
    await expect(attempt).rejects.toThrow("the provisioning service's database was briefly unavailable; the run is retried automatically");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.obj).toMatchObject({ runId: "run-1", attempt: 1 });
    expect(String((logged[0]!.obj as { err: Error }).err.message)).toBe("read ECONNRESET");
  });
});

const pgAvailable = await probePostgres();

describe.skipIf(!pgAvailable.available)("a database error inside a run", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  /** The service with a render engine whose state store loses its database connection the first `failures` times it saves. */
  async function serviceWithFlakyStore(failures: number, maxAttempts: number) {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-dberr-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const inner = new FileRenderStateStore(path.join(dataDir, "render-state"));
    let left = failures;
    const store: RenderStateStore = {
      get: (slug) => inner.get(slug),
      delete: (slug) => inner.delete(slug),
      list: () => inner.list(),
      put: async (record) => {
        if (left-- > 0) throw adminShutdown();
        return inner.put(record);
      },
    };
    const env = { ...process.env, KAFKA_BROKERS: "", SMTP_URL: "", SMTP_HOST: "", MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir, MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_RETRY_DELAY_SECONDS: "0", MATIH_MAX_ATTEMPTS: String(maxAttempts), LOG_LEVEL: "warn" };
    const engine = await createEngine({ env, dataDir, store, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    const app = await buildService({ config: loadServiceConfig(env), databaseUrl: db.url, settings: resolvePlatformSettings(), env, engine, logger: false, shutdownGraceMs: 5_000 });
    await app.ready();
    cleanup.push(() => app.close());
    return app;
  }

  it("is retried as infrastructure trouble, and the tenant becomes ACTIVE without a failure mail", async () => {
    const app = await serviceWithFlakyStore(1, 3);
    const tenant = (await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("dbblip") })).json().tenant;
    const final = await waitForStatus(app, tenant.id, settled, 90_000);
    expect(final.status).toBe("ACTIVE");
    expect(final.run.attempt).toBe(2);
    const audit = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items;
    expect(audit.some((a: { message: string }) => /attempt 1 of 3 failed; retrying: .*the provisioning service's database was briefly unavailable/.test(a.message))).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(DRIVER_TEXT);
    const mails = await app.db.query("SELECT type FROM outbox WHERE kind = 'email' AND tenant_id = $1", [tenant.id]);
    expect(mails.rows.map((r) => r.type)).toEqual(["provisioning-completed"]);
  }, 120_000);

  it("on the last attempt fails the tenant in the tenant's terms, never quoting the driver", async () => {
    const app = await serviceWithFlakyStore(10, 1);
    const tenant = (await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("dbdown") })).json().tenant;
    const final = await waitForStatus(app, tenant.id, settled, 90_000);
    expect(final.status).toBe("FAILED");
    expect(final.error).toMatch(/the provisioning service's database was unavailable on the last attempt; retry the tenant once the service is healthy$/);
    const mail = await app.db.query("SELECT type, payload FROM outbox WHERE kind = 'email' AND tenant_id = $1", [tenant.id]);
    expect(mail.rows.map((r) => r.type)).toEqual(["provisioning-failed"]);
    expect(JSON.stringify(mail.rows[0].payload)).not.toContain(DRIVER_TEXT);
    expect(JSON.stringify(mail.rows[0].payload)).not.toContain("57P01");
    const row = await app.db.query("SELECT error, result FROM provisioning_runs WHERE tenant_id = $1", [tenant.id]);
    expect(JSON.stringify(row.rows)).not.toContain(DRIVER_TEXT);
  }, 120_000);
});
