/**
 * The embedded default uses the two roles an operator sets up for an external
 * PostgreSQL: migrations as the owner, the service as a role that may only add
 * to and read the audit log; and once that is set up, its superuser has no
 * password, so nothing the service holds opens it. On the real embedded
 * server, a fresh data directory and one created before the roles existed
 * (everything owned by the superuser the service used to log in as).
 */
import { createHash, createHmac } from "node:crypto";
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../../model/settings.ts";
import { buildService } from "../../../server/build.ts";
import { loadServiceConfig } from "../../../server/config.ts";
import { scramVerifier } from "../../../server/db/embedded-roles.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../../server/db/embedded.ts";
import { knownMigrations } from "../../../server/db/migrate.ts";
import { embeddedSuperuserUrl } from "../../support/embedded-superuser.ts";
import { ADMIN_TOKEN, auth, settled, tenantRequest, waitForStatus } from "../../support/service.ts";

const env = (dataDir: string, extra: Record<string, string> = {}) => ({
  ...process.env,
  MATIH_ENGINE: "render",
  MATIH_DATA_DIR: dataDir,
  MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
  MATIH_RETRY_DELAY_SECONDS: "0",
  MATIH_DRIFT_SCHEDULE: "off",
  LOG_LEVEL: "warn",
  KAFKA_BROKERS: "",
  SMTP_URL: "",
  SMTP_HOST: "",
  ...extra,
});

/** The service on `urls` exactly as the entry point builds it. */
async function build(dataDir: string, urls: { databaseUrl: string }, extra: Record<string, string> = {}) {
  const e = env(dataDir, extra);
  const app = await buildService({ config: loadServiceConfig(e), ...urls, settings: resolvePlatformSettings(), env: e, logger: false, shutdownGraceMs: 5_000 });
  await app.ready();
  return app;
}

async function serve(dataDir: string) {
  const database = await startEmbeddedDatabase(dataDir);
  try {
    const app = await build(dataDir, { databaseUrl: database.url });
    return { app, database, close: async () => { await app.close(); await database.close(); } };
  } catch (error) {
    await database.close();
    throw error;
  }
}

const superuserUrl = (_dataDir: string, database: EmbeddedDatabase, name = "matih") => embeddedSuperuserUrl(database, name);

/** The superuser's stored password: null when it has none, so no login opens it. */
const superuserPassword = (su: string) => withClient(su, async (c) => (await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'matih'`)).rows[0].rolpassword as string | null);

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Who owns what: every relation, routine and type in the service's schema and the queue's, by owner. */
async function owners(url: string): Promise<Record<string, Record<string, number>>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ schema: string; owner: string; n: number }>(
      `SELECT schema, owner, count(*)::int AS n FROM (
         SELECT n.nspname AS schema, pg_get_userbyid(x.relowner) AS owner FROM pg_class x JOIN pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname IN ('public', 'pgboss')
         UNION ALL SELECT n.nspname, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'pgboss')
         UNION ALL SELECT n.nspname, pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname IN ('public', 'pgboss')
         UNION ALL SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE n.nspname = 'pgboss'
       ) o GROUP BY schema, owner`,
    );
    const result: Record<string, Record<string, number>> = {};
    for (const r of rows) (result[r.schema] ??= {})[r.owner] = r.n;
    return result;
  });
}

const auditRows = (url: string, tenantId: string) => withClient(url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM provisioning_audit_logs WHERE tenant_id = $1`, [tenantId])).rows[0].n as number);

/** What the service's own connection must not be able to do to the audit log. */
const FORBIDDEN: [string, string, RegExp][] = [
  ["TRUNCATE", "TRUNCATE provisioning_audit_logs", /permission denied/],
  ["UPDATE", "UPDATE provisioning_audit_logs SET message = 'nothing happened'", /permission denied/],
  ["DELETE", "DELETE FROM provisioning_audit_logs", /permission denied/],
  ["disable its triggers", "ALTER TABLE provisioning_audit_logs DISABLE TRIGGER ALL", /must be owner/],
  ["replica mode, which skips triggers", "SET session_replication_role = replica", /permission denied/],
  ["drop it", "DROP TABLE provisioning_audit_logs", /must be owner/],
];

async function expectAuditLogProtected(serviceUrl: string, ownerUrl: string, tenantId: string): Promise<void> {
  const before = await auditRows(ownerUrl, tenantId);
  expect(before).toBeGreaterThan(20);
  await withClient(serviceUrl, async (c) => {
    for (const [what, sql, error] of FORBIDDEN) await expect(c.query(sql), what).rejects.toThrow(error);
  });
  expect(await auditRows(ownerUrl, tenantId)).toBe(before);
}

describe("the embedded default's owner and service roles", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const freshDir = async (prefix: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  it("stores the service password as a SCRAM-SHA-256 verifier that checks out against RFC 7677's exchange", () => {
    // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations, and the
    // messages, client proof and server signature of one authentication.
    const verifier = scramVerifier("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
    expect(verifier).not.toContain("pencil");
    const [, iterations, salt, stored, server] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier)!;
    expect([iterations, salt]).toEqual(["4096", "W22ZaJ0SNY7soEsUEjb6gQ=="]);
    const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    // The server proves itself with ServerKey ...
    expect(createHmac("sha256", Buffer.from(server!, "base64")).update(authMessage).digest("base64")).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    // ... and the client's proof recovers a ClientKey whose hash is StoredKey.
    const signature = createHmac("sha256", Buffer.from(stored!, "base64")).update(authMessage).digest();
    const clientKey = Buffer.from(Buffer.from("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "base64").map((b, i) => b ^ signature[i]!));
    expect(createHash("sha256").update(clientKey).digest("base64")).toBe(stored);
  });

  it("on a fresh data directory: migrations as the owner, the service as a limited role that cannot touch the audit log, and a tenant to ACTIVE", async () => {
    const dataDir = await freshDir("matih-roles-");
    const service = await serve(dataDir);
    try {
      // Migrations and grants were the setup's, as the owner; the superuser is locked out and its password kept nowhere.
      expect(service.database.setup).toEqual({ migrations: await knownMigrations(), owner: "matih_owner", service: "matih_service" });
      await expect(stat(path.join(dataDir, "postgres-password"))).rejects.toThrow(/ENOENT/);
      const su = await superuserUrl(dataDir, service.database);
      expect(await superuserPassword(su)).toBeNull();
      const servicePassword = (await readFile(path.join(dataDir, "postgres-service-password"), "utf8")).trim();
      expect(servicePassword.length).toBeGreaterThanOrEqual(32);
      expect((await stat(path.join(dataDir, "postgres-service-password"))).mode & 0o777).toBe(0o600);
      expect(service.database.url).toContain(`matih_service:${encodeURIComponent(servicePassword)}@`);

      // The pool the whole service uses is the limited role.
      const me = (await service.app.db.query(`SELECT current_user AS name, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user`)).rows[0];
      expect(me).toEqual({ name: "matih_service", rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });

      const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("roles") })).json().tenant;
      const status = await waitForStatus(service.app, tenant.id, settled, 90_000);
      expect(status.status).toBe("ACTIVE");
      expect(status.phases.filter((p: { status: string }) => p.status === "SUCCEEDED")).toHaveLength(10);

      // The owner owns the schema, the service only the queue; the superuser nothing.
      expect(await owners(su)).toEqual({ public: { matih_owner: expect.any(Number) }, pgboss: { matih_service: expect.any(Number) } });
      await withClient(su, async (c) => {
        expect((await c.query(`SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'matih'`)).rows[0].owner).toBe("matih_owner");
        expect((await c.query(`SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'matih_owner'`)).rows[0]).toEqual({ rolcanlogin: false, rolsuper: false });
        expect((await c.query(`SELECT pg_has_role('matih_service', 'matih_owner', 'MEMBER') AS m`)).rows[0].m).toBe(false);
        // The password is stored as a SCRAM verifier.
        expect((await c.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'matih_service'`)).rows[0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
      });
      // The migrations ran as the owner: their bookkeeping is the owner's, and the service may not read it.
      await withClient(service.database.url, async (c) => {
        await expect(c.query(`SELECT * FROM schema_migrations`)).rejects.toThrow(/permission denied/);
        await expect(c.query(`CREATE TABLE public.intruder (id int)`)).rejects.toThrow(/permission denied/);
      });
      await expectAuditLogProtected(service.database.url, su, tenant.id);
      // Nor may the owner change or remove audit rows (the row trigger), or empty the log (the statement trigger).
      await withClient(su, async (c) => {
        await c.query(`SET ROLE matih_owner`);
        for (const sql of ["UPDATE provisioning_audit_logs SET message = 'nothing happened'", "DELETE FROM provisioning_audit_logs", "TRUNCATE provisioning_audit_logs CASCADE"]) {
          await expect(c.query(sql), sql).rejects.toThrow(/provisioning_audit_logs is append-only/);
        }
      });
      expect(await auditRows(su, tenant.id)).toBeGreaterThan(20);
      // The owner cannot log in; the superuser's password does not open the service's role.
      const ownerLogin = new pg.Client({ connectionString: `postgresql://matih_owner:${encodeURIComponent(servicePassword)}@127.0.0.1:${service.database.port}/matih` });
      await expect(ownerLogin.connect()).rejects.toThrow();
      await ownerLogin.end().catch(() => undefined);
    } finally {
      await service.close();
    }
  }, 180_000);

  it("on a data directory from before the roles: hands every object over, keeps tenants, audit rows and queued jobs, and does so again harmlessly", async () => {
    const dataDir = await freshDir("matih-upgrade-");
    // Recreate what the earlier version left: the database and everything in it owned by the
    // superuser, which the service logged in as for migrations, queue and pool alike.
    let activeId: string;
    let queuedId: string;
    {
      const database = await startEmbeddedDatabase(dataDir);
      try {
        await withClient(await superuserUrl(dataDir, database, "postgres"), async (c) => {
          await c.query(`DROP DATABASE matih WITH (FORCE)`);
          await c.query(`DROP ROLE matih_service`);
          await c.query(`DROP ROLE matih_owner`);
          await c.query(`CREATE DATABASE matih`);
        });
        await unlink(path.join(dataDir, "postgres-service-password"));
        // Where earlier versions kept the superuser's password for good.
        await writeFile(path.join(dataDir, "postgres-password"), "an-old-superuser-password\n", { mode: 0o600 });
        const su = await superuserUrl(dataDir, database);
        const old = await build(dataDir, { databaseUrl: su });
        try {
          const active = (await old.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("before") })).json().tenant;
          activeId = active.id;
          expect((await waitForStatus(old, active.id, settled, 90_000)).status).toBe("ACTIVE");
        } finally {
          await old.close();
        }
        // A process that serves the API but runs no jobs: its tenant's job stays queued across the upgrade.
        const apiOnly = await build(dataDir, { databaseUrl: su }, { MATIH_WORKER: "false" });
        try {
          const res = await apiOnly.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("queued") });
          expect(res.statusCode).toBe(202);
          queuedId = res.json().tenant.id;
        } finally {
          await apiOnly.close();
        }
        expect(await owners(su)).toEqual({ public: { matih: expect.any(Number) }, pgboss: { matih: expect.any(Number) } });
      } finally {
        await database.close();
      }
    }

    const upgraded = await serve(dataDir);
    try {
      const su = await superuserUrl(dataDir, upgraded.database);
      expect((await stat(path.join(dataDir, "postgres-service-password"))).mode & 0o777).toBe(0o600);
      await expect(stat(path.join(dataDir, "postgres-password"))).rejects.toThrow(/ENOENT/);
      expect(await superuserPassword(su)).toBeNull();
      // The audit rows written before the handover still form one unbroken chain.
      expect((await upgraded.app.inject({ method: "GET", url: "/api/v1/audit/verify", headers: auth() })).json()).toMatchObject({ ok: true, broken: null });
      expect((await upgraded.app.db.query(`SELECT current_user AS name`)).rows[0].name).toBe("matih_service");
      expect(await owners(su)).toEqual({ public: { matih_owner: expect.any(Number) }, pgboss: { matih_service: expect.any(Number) } });
      // The tenant provisioned before is still there; the queued job runs to the end under the new roles.
      expect((await upgraded.app.inject({ method: "GET", url: `/api/v1/tenants/${activeId!}`, headers: auth() })).json()).toMatchObject({ status: "ACTIVE" });
      expect((await waitForStatus(upgraded.app, queuedId!, settled, 90_000)).status).toBe("ACTIVE");
      await expectAuditLogProtected(upgraded.database.url, su, activeId!);
      // And the service still does everything: a new tenant, and the old one torn down.
      const fresh = (await upgraded.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("after") })).json().tenant;
      expect((await waitForStatus(upgraded.app, fresh.id, settled, 90_000)).status).toBe("ACTIVE");
      expect((await upgraded.app.inject({ method: "DELETE", url: `/api/v1/tenants/${activeId!}?confirm=before`, headers: auth() })).statusCode).toBe(202);
      expect((await waitForStatus(upgraded.app, activeId!, settled, 90_000)).status).toBe("DELETED");
    } finally {
      await upgraded.close();
    }

    // A third start finds nothing to hand over and changes nothing; the service's password stays the same.
    const password = (await readFile(path.join(dataDir, "postgres-service-password"), "utf8")).trim();
    const again = await serve(dataDir);
    try {
      expect((await readFile(path.join(dataDir, "postgres-service-password"), "utf8")).trim()).toBe(password);
      const su = await superuserUrl(dataDir, again.database);
      expect(await owners(su)).toEqual({ public: { matih_owner: expect.any(Number) }, pgboss: { matih_service: expect.any(Number) } });
      // Single-user mode gave the superuser this start's password; the setup took it away again.
      expect(await superuserPassword(su)).toBeNull();
      expect((await again.app.inject({ method: "GET", url: "/api/v1/tenants/after", headers: auth() })).json()).toMatchObject({ status: "ACTIVE" });
    } finally {
      await again.close();
    }
  }, 300_000);
});
