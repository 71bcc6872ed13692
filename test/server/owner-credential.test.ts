/**
 * The schema owner's credential (MATIH_MIGRATION_DATABASE_URL) can switch the
 * audit log's triggers off; the running service must not hold it. Either the
 * entry point migrates and then replaces itself (execve, same pid) with a
 * process whose environment lacks it, or `npm run migrate` does the owner's
 * part on its own and the service never sees it. Checked on the real entry
 * point, through /proc/<pid>/environ: what the kernel keeps of the process's
 * environment, which deleting a variable from process.env does not change.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { knownMigrations } from "../../server/db/migrate.ts";
import { logLines, ROOT, spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { probePostgres, TEST_DATABASE_URL } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase } from "../support/service.ts";

const pgProbe = await probePostgres();
const hasProcEnviron = existsSync("/proc/self/environ");

const OWNER_PASSWORD = `owner_${randomBytes(12).toString("hex")}`;
const SERVICE_PASSWORD = `service_${randomBytes(12).toString("hex")}`;
const urlAs = (url: string, user: string, password: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
};

async function superuser(sql: string, database = TEST_DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The environment the kernel holds for `pid`, as NAME=value entries. */
async function environOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/environ`, "utf8")).split("\0").filter(Boolean);
}

function migrateCommand(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "info", ...env };
    if (!env.MATIH_MIGRATION_DATABASE_URL) delete fullEnv.MATIH_MIGRATION_DATABASE_URL;
    const child = spawn(process.execPath, ["server/migrate-cli.ts"], { cwd: ROOT, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

describe.skipIf(!pgProbe.available || !hasProcEnviron)("the schema owner's credential and the running service", () => {
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const owner = `matih_owner_${suffix}`;
  const serviceRole = `matih_service_${suffix}`;
  const cleanup: (() => Promise<unknown>)[] = [];

  /** A database as the operations manual sets it up: owned by the owner, the queue's schema the service's. */
  async function database(): Promise<{ ownerUrl: string; serviceUrl: string; adminUrl: string }> {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    await superuser(`ALTER DATABASE ${db.name} OWNER TO ${owner}`);
    await superuser(`CREATE SCHEMA pgboss AUTHORIZATION ${serviceRole}`, db.url);
    return { ownerUrl: urlAs(db.url, owner, OWNER_PASSWORD), serviceUrl: urlAs(db.url, serviceRole, SERVICE_PASSWORD), adminUrl: db.url };
  }

  async function start(env: Record<string, string>, unset: string[] = []): Promise<ServiceProcess> {
    const dataDir = await mkdtemp(path.join(tmpdir(), "matih-owner-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const service = spawnService(
      { MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, MATIH_WORKERS: "0", MATIH_DRIFT_SCHEDULE: "off", PORT: "0", LOG_LEVEL: "info", ...env },
      // An owner URL from the developer's own environment must not leak into a start that gives none.
      { unset: env.MATIH_MIGRATION_DATABASE_URL ? unset : ["MATIH_MIGRATION_DATABASE_URL", ...unset] },
    );
    cleanup.push(() => service.stop("SIGTERM"));
    return service;
  }

  beforeAll(async () => {
    await superuser(`CREATE ROLE ${owner} LOGIN PASSWORD '${OWNER_PASSWORD}'`);
    await superuser(`CREATE ROLE ${serviceRole} LOGIN PASSWORD '${SERVICE_PASSWORD}'`);
  });
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await superuser(`DROP ROLE IF EXISTS ${serviceRole}`).catch(() => undefined);
    await superuser(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
  });

  it("started with both URLs, migrates as the owner, then serves as the same process without the owner's URL in its environment", async () => {
    const { ownerUrl, serviceUrl } = await database();
    const service = await start({ DATABASE_URL: serviceUrl, MATIH_MIGRATION_DATABASE_URL: ownerUrl });
    const url = await service.listening();
    const pid = service.child.pid!;

    const environ = await environOf(pid);
    expect(environ).toContain(`DATABASE_URL=${serviceUrl}`);
    expect(environ.filter((e) => e.startsWith("MATIH_MIGRATION_DATABASE_URL="))).toEqual([]);
    expect(environ.join("\n")).not.toContain(OWNER_PASSWORD);
    const lines = logLines(service.output());
    expect(lines.find((l) => l.msg === "applied schema migrations")?.migrations).toEqual(await knownMigrations());
    expect(lines.find((l) => String(l.msg).startsWith("schema owned by the owner role"))).toMatchObject({ owner, service: serviceRole });
    expect(lines.some((l) => String(l.msg).startsWith("restarting without MATIH_MIGRATION_DATABASE_URL"))).toBe(true);
    expect(service.output()).not.toContain(OWNER_PASSWORD);

    // The owner migrated and holds no session now; the service works as its own role.
    const asOwner = new pg.Client({ connectionString: ownerUrl });
    await asOwner.connect();
    try {
      expect((await asOwner.query(`SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`)).rows).toEqual([{ tableowner: owner }]);
      const sessions = await asOwner.query(`SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY usename`);
      expect(sessions.rows).toEqual([{ usename: serviceRole }]);
    } finally {
      await asOwner.end();
    }
    const verify = await fetch(`${url}/api/v1/audit/verify`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ ok: true });
    expect(await service.stop("SIGTERM")).toBe(0);
  }, 120_000);

  it("`npm run migrate` does the owner's part alone; the service then starts with DATABASE_URL only and migrates nothing", async () => {
    const { ownerUrl, serviceUrl, adminUrl } = await database();
    const migrated = await migrateCommand({ DATABASE_URL: serviceUrl, MATIH_MIGRATION_DATABASE_URL: ownerUrl });
    expect(migrated.code, migrated.output).toBe(0);
    expect(logLines(migrated.output).find((l) => l.msg === "applied schema migrations")?.migrations).toEqual(await knownMigrations());
    expect(migrated.output).not.toContain(OWNER_PASSWORD);
    const again = await migrateCommand({ DATABASE_URL: serviceUrl, MATIH_MIGRATION_DATABASE_URL: ownerUrl });
    expect(logLines(again.output).find((l) => l.msg === "the schema is up to date")).toMatchObject({ migrations: [] });

    const service = await start({ DATABASE_URL: serviceUrl });
    await service.listening();
    expect((await environOf(service.child.pid!)).join("\n")).not.toContain(OWNER_PASSWORD);
    const messages = logLines(service.output()).map((l) => String(l.msg));
    expect(messages).not.toContain("applied schema migrations");
    expect(messages.some((m) => m.startsWith("DATABASE_URL's role owns the schema"))).toBe(false);
    expect(await service.stop("SIGTERM")).toBe(0);

    // A migration missing (as after an upgrade without `npm run migrate`): the start is refused in one line.
    const last = (await knownMigrations()).at(-1)!;
    await superuser(`DELETE FROM schema_migrations WHERE name = '${last}'`, adminUrl);
    const refused = await start({ DATABASE_URL: serviceUrl });
    expect(await refused.exited()).toBe(1);
    expect(refused.output().trim().split("\n").at(-1)).toBe(
      `matih tenant service cannot start: the schema lacks 1 migration(s) of this version (the last: ${last}), and DATABASE_URL's role may not apply them; run \`npm run migrate\` with MATIH_MIGRATION_DATABASE_URL (the owner) and DATABASE_URL first, or start once with both`,
    );
  }, 120_000);

  it("`npm run migrate` without the owner's URL says what it needs", async () => {
    const run = await migrateCommand({ DATABASE_URL: TEST_DATABASE_URL });
    expect(run.code).toBe(2);
    expect(run.output.trim()).toBe("matih migrate: set MATIH_MIGRATION_DATABASE_URL (the schema owner) and DATABASE_URL (the service's own role); the embedded database migrates at its own start");
  });
});
