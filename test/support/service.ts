/**
 * A real tenant service for tests: a fresh database on the test Postgres
 * server, the render engine, and the whole Fastify app, driven through HTTP.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import type { TenantEngine } from "../../automation/index.ts";
import { buildService } from "../../server/build.ts";
import { loadServiceConfig } from "../../server/config.ts";
import { TEST_DATABASE_URL } from "./postgres.ts";

export const ADMIN_TOKEN = "test-admin-Zq7vK2pX9mWb4Ty8Rn3sLd6Hf";
export const READ_TOKEN = "test-read-Bv5nQ8wE3rT6yU1iO4pA7sD0f";

/** A database of its own on the test server; `drop` removes it. */
export async function freshDatabase(prefix = "matih_test"): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestService {
  app: FastifyInstance;
  dataDir: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/** Builds and readies the service on `databaseUrl` with the render engine; `env` adds or overrides variables. */
export async function startService(databaseUrl: string, env: Record<string, string> = {}, options: { logLines?: string[]; wrapEngine?: (engine: TenantEngine) => TenantEngine } = {}): Promise<TestService> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "matih-service-"));
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    // A developer's own broker or mail relay must not receive test traffic.
    KAFKA_BROKERS: "",
    SMTP_URL: "",
    SMTP_HOST: "",
    MATIH_ENGINE: "render",
    MATIH_DATA_DIR: dataDir,
    MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
    MATIH_READ_TOKENS: READ_TOKEN,
    MATIH_RETRY_DELAY_SECONDS: "0",
    MATIH_MAX_ATTEMPTS: "3",
    // Fleet drift runs only where a test asks for them: an hourly run landing mid-test would add checks.
    MATIH_DRIFT_SCHEDULE: "off",
    LOG_LEVEL: "warn",
    ...env,
  };
  const config = loadServiceConfig(fullEnv);
  // `logLines` collects the service's JSON log lines (at info and above) for tests that check what is logged.
  const logger = options.logLines ? { level: "info", stream: { write: (line: string) => void options.logLines!.push(line) } } : false;
  const app = await buildService({ config, databaseUrl, settings: resolvePlatformSettings(), env: fullEnv, logger, shutdownGraceMs: 5_000, ...(options.wrapEngine ? { wrapEngine: options.wrapEngine } : {}) });
  await app.ready();
  return {
    app,
    dataDir,
    databaseUrl,
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const auth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

export function tenantRequest(slug: string, tier = "free", extra: Record<string, unknown> = {}) {
  return { slug, displayName: `${slug} Inc`, tier, region: "eastus", adminEmail: `admin@${slug}.example`, ...extra };
}

/** Polls the status endpoint until `done` holds, or fails after `timeoutMs`. */
export async function waitForStatus(app: FastifyInstance, idOrSlug: string, done: (status: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await app.inject({ method: "GET", url: `/api/v1/tenants/${idOrSlug}/provisioning/status`, headers: auth() });
    last = res.json();
    if (res.statusCode === 200 && done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`status of ${idOrSlug} did not settle in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

export const settled = (s: any) => s.run && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.run.status) && s.status !== "PROVISIONING" && s.status !== "DEPROVISIONING" && s.status !== "UPDATING";

export interface ServiceHandle {
  /** The running service; only inside tests (after `beforeAll`). */
  readonly service: TestService;
  readonly app: FastifyInstance;
  /** The service's own database. */
  readonly databaseUrl: string;
}

/**
 * A service on a database of its own for the enclosing `describe`: started in
 * `beforeAll`, closed and its database dropped in `afterAll`, so no test
 * writes its own teardown.
 */
export function useService(env: Record<string, string> = {}): ServiceHandle {
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let service: TestService | undefined;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, env);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });
  const started = () => {
    if (!service) throw new Error("the service is only there inside tests of the describe that asked for it");
    return service;
  };
  return {
    get service() { return started(); },
    get app() { return started().app; },
    get databaseUrl() { return started().databaseUrl; },
  };
}

/** Runs `body` against a service on a fresh database, then closes it and drops the database, whatever happens. */
export async function withService(env: Record<string, string>, body: (service: TestService) => Promise<void>): Promise<void> {
  const db = await freshDatabase();
  const service = await startService(db.url, env);
  try {
    await body(service);
  } finally {
    await service.close();
    await db.drop();
  }
}
