/**
 * What the benchmarks need to drive a real service: a throw-away database on
 * the local Postgres and the whole app on it with the render engine. Kept
 * apart from the test helpers so that benchmarks never load test code.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { resolvePlatformSettings } from "../model/settings.ts";
import { buildService } from "../server/build.ts";
import { loadServiceConfig } from "../server/config.ts";

const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const BENCH_TOKEN = `bench-${randomBytes(24).toString("base64url")}`;
export const auth = () => ({ authorization: `Bearer ${BENCH_TOKEN}` });

export interface BenchService {
  readonly app: FastifyInstance;
  /** The service's own database. */
  readonly databaseUrl: string;
  /** Starts listening on a free local port; returns its base URL (http://127.0.0.1:port). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** A service on a database of its own; `close` stops it and drops the database. */
export async function startBenchService(env: Record<string, string>): Promise<BenchService> {
  const name = `matih_bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), "matih-bench-"));
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: "",
    SMTP_URL: "",
    SMTP_HOST: "",
    MATIH_ENGINE: "render",
    MATIH_DATA_DIR: dataDir,
    MATIH_ADMIN_TOKEN: BENCH_TOKEN,
    LOG_LEVEL: "warn",
    // An hourly fleet drift run landing mid-bench would skew what it measures.
    MATIH_DRIFT_SCHEDULE: "off",
    ...env,
  };
  const app = await buildService({ config: loadServiceConfig(fullEnv), databaseUrl: url.toString(), settings: resolvePlatformSettings(), env: fullEnv, logger: false, shutdownGraceMs: 5_000 });
  await app.ready();
  return {
    app,
    databaseUrl: url.toString(),
    async listen() {
      await app.listen({ host: "127.0.0.1", port: 0 });
      const address = app.server.address();
      if (!address || typeof address === "string") throw new Error("the service is not listening on a TCP port");
      return `http://127.0.0.1:${address.port}`;
    },
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Polls a tenant's status until its run has finished, or fails after `timeoutMs`. */
export async function waitUntilSettled(app: FastifyInstance, id: string, timeoutMs: number): Promise<{ status: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await app.inject({ method: "GET", url: `/api/v1/tenants/${id}/provisioning/status`, headers: auth() });
    const body = res.json();
    const finished = body.run && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(body.run.status) && body.status !== "PROVISIONING" && body.status !== "DEPROVISIONING";
    if (res.statusCode === 200 && finished) return body;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`tenant ${id} did not settle in ${timeoutMs} ms`);
}

/** Waits until the service's warm worker pool has `size` idle workers (they load the SDK and the program first). */
export async function waitForWarmWorkers(app: FastifyInstance, size: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const stats = app.metrics.workerStats?.();
    if (!stats || stats.idle >= size) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the worker pool did not have ${size} idle workers within ${timeoutMs} ms`);
}

/** Requests a tenant and returns its id. */
export async function createTenant(app: FastifyInstance, slug: string, tier = "free"): Promise<string> {
  const res = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: { slug, displayName: `${slug} Inc`, tier, region: "eastus", adminEmail: `admin@${slug}.example` } });
  if (res.statusCode !== 202) throw new Error(`creating ${slug}: ${res.statusCode} ${res.body}`);
  return (res.json() as { tenant: { id: string } }).tenant.id;
}

/**
 * A run's overhead as the audit log shows it: from "attempt 1 of N started"
 * (the job was taken) to "phase 1 ... started" (the engine reported its first
 * phase), in milliseconds. Null while either is missing.
 */
export async function runOverheadMs(app: FastifyInstance, tenantId: string): Promise<number | null> {
  const audit = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/audit`, headers: auth() })).json() as { items: { message: string; createdAt: string }[] };
  const started = audit.items.find((a) => /attempt 1 of \d+ started/.test(a.message));
  const phase = audit.items.find((a) => /^phase 1 .* started/i.test(a.message));
  return started && phase ? Date.parse(phase.createdAt) - Date.parse(started.createdAt) : null;
}
