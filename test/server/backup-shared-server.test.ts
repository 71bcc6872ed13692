/**
 * The shared server's `sslMode` means to the backup what it means to libpq and
 * to the postgresql provider: `require` encrypts and does not verify the
 * server's certificate. Against a PostgreSQL with a self-signed certificate
 * (Debian's snakeoil, the local cluster's), node-postgres alone would read
 * `require` as verify-full and refuse, failing every teardown's backup.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { BackupService, connectionEnv } from "../../server/domain/backup-service.ts";
import { LocalBackupStore } from "../../server/domain/backup-store.ts";
import { freshDatabase } from "../support/service.ts";
import { probePostgres, TEST_DATABASE_URL } from "../support/postgres.ts";

const database = await probePostgres();
const url = new URL(TEST_DATABASE_URL);
let tls: { on: boolean; reason: string } = { on: false, reason: database.available ? "" : database.reason };
if (database.available) {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  const { rows } = await client.query("SHOW ssl");
  await client.end();
  tls = { on: rows[0].ssl === "on", reason: rows[0].ssl === "on" ? "" : "the test PostgreSQL has TLS off (the embedded one)" };
}

/**
 * The service's own database as the backup reads it: the platform settings'
 * current version (none recorded, or the one given) and, for a backup taken,
 * a recorder that echoes the row it is asked to insert.
 */
function serviceDatabase(current?: unknown) {
  return {
    query: async (sql: string, params: unknown[] = []) => sql.includes("FROM platform_settings_versions")
      ? { rows: current ? [{ version: 2, settings: current, createdAt: new Date(), createdBy: "ops", reason: "moved", changedPaths: ["postgres.port"] }] : [] }
      : { rows: [{ id: params[0], location: params[8], size_bytes: params[9], sizeBytes: params[9], sha256: params[10] }] },
  };
}

describe.skipIf(!tls.on)(`the backup's connection to the shared server with sslMode require${tls.on ? "" : ` [skipped: ${tls.reason}]`}`, () => {
  const pool = serviceDatabase();

  it("connects without verifying the certificate, as libpq's require does, and finds no schema to dump", async () => {
    const settings = resolvePlatformSettings({
      postgres: { host: url.hostname, port: Number(url.port || 5432), database: url.pathname.slice(1) || "postgres", adminUser: decodeURIComponent(url.username) || "postgres", sslMode: "require" },
    });
    const service = new BackupService({
      pool: pool as never, store: null as never, retentionDays: 30, tenantDatabaseUrl: null, engine: "pulumi", settings, env: { [settings.postgres.adminPasswordEnv]: decodeURIComponent(url.password) },
    });
    const target = service.targetOf({ slug: "tls-nobody", tier: "free" });
    expect(target.kind).toBe("schema");
    const outcome = await service.take({ slug: "tls-nobody", tier: "free", id: "00000000-0000-0000-0000-000000000000" } as never, { reason: "teardown" as never, principal: "test" });
    expect(outcome).toEqual({ none: `schema tenant_tls_nobody does not exist on ${url.hostname}:${url.port || "5432"}/${url.pathname.slice(1) || "postgres"}: there is no data to back up` });
    // pg_dump is told the same mode, through libpq's own variable.
    expect(connectionEnv((target as { url: string }).url).PGSSLMODE).toBe("require");
  });
});

/**
 * The platform's admin is not a superuser (Azure's azure_pg_admin, the local
 * cluster's CREATEROLE admin) and the tenant's schema and tables belong to
 * the tenant's role: the backup takes that role for the dump and gives it
 * back. Without it pg_dump is refused every table of every tenant.
 */
describe.skipIf(!database.available)(`a backup taken by a non-superuser admin of a schema the tenant role owns${database.available ? "" : ` [skipped: ${database.reason}]`}`, () => {
  const suffix = randomBytes(4).toString("hex");
  const admin = `bk_admin_${suffix}`;
  const adminPassword = randomBytes(12).toString("hex");
  const slug = `bk-${suffix}`;
  const role = `tenant_bk_${suffix}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let superuser: pg.Client;
  let dir = "";

  beforeAll(async () => {
    db = await freshDatabase("matih_backup_roles");
    dir = await mkdtemp(path.join(tmpdir(), "matih-backup-roles-"));
    superuser = new pg.Client({ connectionString: db.url });
    await superuser.connect();
    await superuser.query(`CREATE ROLE ${admin} LOGIN CREATEROLE PASSWORD '${adminPassword}'`);
    await superuser.query(`CREATE ROLE ${role} LOGIN PASSWORD '${randomBytes(12).toString("hex")}'`);
    await superuser.query(`GRANT CONNECT, CREATE ON DATABASE "${db.name}" TO ${admin}`);
    await superuser.query(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
    await superuser.query(`CREATE TABLE ${role}.orders (id integer PRIMARY KEY, note text)`);
    await superuser.query(`INSERT INTO ${role}.orders SELECT g, 'order ' || g FROM generate_series(1, 250) g`);
    await superuser.query(`ALTER TABLE ${role}.orders OWNER TO ${role}`);
  });

  afterAll(async () => {
    await superuser?.end().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    const cleanup = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await cleanup.connect();
    for (const r of [role, admin]) await cleanup.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
    await cleanup.end();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("dumps every row, then gives the tenant role back", async () => {
    const settings = resolvePlatformSettings({
      postgres: { host: url.hostname, port: Number(url.port || 5432), database: db.name, adminUser: admin, sslMode: tls.on ? "require" : "disable" },
    });
    const store = await new LocalBackupStore(dir).init();
    // The service's own database only records the backup: a recorder that echoes the row.
    const recorder = serviceDatabase();
    const service = new BackupService({ pool: null as never, store, retentionDays: 30, tenantDatabaseUrl: null, engine: "pulumi", settings, env: { [settings.postgres.adminPasswordEnv]: adminPassword } });
    const outcome = await service.take({ slug, tier: "free", id: "00000000-0000-0000-0000-000000000001" } as never, { reason: "teardown" as never, principal: "test", db: recorder as never });
    expect(outcome).toHaveProperty("backup");
    const location = String((outcome as { backup: { location: string } }).backup.location);
    const { stdout } = await promisify(execFile)("pg_restore", ["--data-only", "--file=-", location]);
    expect(stdout.match(/^\d+\torder \d+$/gm)?.length).toBe(250);
    const { rows } = await superuser.query(`SELECT pg_has_role($1, $2, 'MEMBER') AS member`, [admin, role]);
    expect(rows[0].member).toBe(false);
  });

  it("dumps from the shared server of the current settings version, not the one the process started with", async () => {
    const current = resolvePlatformSettings({
      postgres: { host: url.hostname, port: Number(url.port || 5432), database: db.name, adminUser: admin, sslMode: tls.on ? "require" : "disable" },
    });
    // The process started when the shared server was elsewhere (a port nothing listens on).
    const started = resolvePlatformSettings({ postgres: { ...current.postgres, port: 1 } });
    const store = await new LocalBackupStore(dir).init();
    const env = { [current.postgres.adminPasswordEnv]: adminPassword };
    const tenant = { slug, tier: "free", id: "00000000-0000-0000-0000-000000000002" } as never;
    const moved = new BackupService({ pool: null as never, store, retentionDays: 30, tenantDatabaseUrl: null, engine: "pulumi", settings: started, env });
    const outcome = await moved.take(tenant, { reason: "teardown" as never, principal: "test", db: serviceDatabase(current) as never });
    expect(outcome).toHaveProperty("backup");
    // With no version recorded, the process's own settings: the old place, which refuses the connection.
    await expect(moved.take(tenant, { reason: "teardown" as never, principal: "test", db: serviceDatabase() as never })).rejects.toThrow(/:1\b|port 1|ECONNREFUSED|connect/);
  });
});
