/**
 * The audit log is append-only for everyone who reaches it through the
 * service: on the real PostgreSQL, with the schema owned by an owner role
 * that runs the migrations and the service logged in as a role of its own.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseRoleError, grantServiceRole } from "../../server/db/roles.ts";
import { probePostgres, TEST_DATABASE_URL } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pgProbe = await probePostgres();

/** Each role logs in with a password of its own, as on a server that trusts no one on loopback (Debian's default). */
const PASSWORD = `pw_${randomBytes(12).toString("hex")}`;
const urlAs = (url: string, user: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = PASSWORD;
  return u.toString();
};

describe.skipIf(!pgProbe.available)("the audit log with an owner role and a service role", () => {
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const owner = `matih_owner_${suffix}`;
  const serviceRole = `matih_service_${suffix}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let ownerUrl: string;
  let serviceUrl: string;
  let service: TestService;
  let asService: pg.Client;
  let asOwner: pg.Client;
  let tenantId: string;

  const superuser = async (sql: string, database?: string) => {
    const client = new pg.Client({ connectionString: database ?? TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    // What the operations manual tells an operator to run once, as a superuser.
    await superuser(`CREATE ROLE ${owner} LOGIN PASSWORD '${PASSWORD}'`);
    await superuser(`CREATE ROLE ${serviceRole} LOGIN PASSWORD '${PASSWORD}'`);
    db = await freshDatabase();
    await superuser(`ALTER DATABASE ${db.name} OWNER TO ${owner}`);
    await superuser(`CREATE SCHEMA pgboss AUTHORIZATION ${serviceRole}`, db.url);
    ownerUrl = urlAs(db.url, owner);
    serviceUrl = urlAs(db.url, serviceRole);

    service = await startService(serviceUrl, { DATABASE_URL: serviceUrl, MATIH_MIGRATION_DATABASE_URL: ownerUrl });
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("ledger") })).json().tenant;
    tenantId = tenant.id;
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    asService = new pg.Client({ connectionString: serviceUrl });
    await asService.connect();
    asOwner = new pg.Client({ connectionString: ownerUrl });
    await asOwner.connect();
  });
  afterAll(async () => {
    await asService?.end();
    await asOwner?.end();
    await service?.close();
    await db?.drop();
    await superuser(`DROP ROLE IF EXISTS ${serviceRole}`).catch(() => undefined);
    await superuser(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
  });

  it("runs every migration as the owner, who owns every table", async () => {
    const { rows } = await asOwner.query(`SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(rows).toEqual([{ tableowner: owner }]);
  });

  it("lets the service's role add to and read the audit log: the provisioning wrote its rows", async () => {
    const { rows } = await asService.query(`SELECT count(*)::int AS n FROM provisioning_audit_logs WHERE tenant_id = $1`, [tenantId]);
    expect(rows[0].n).toBeGreaterThan(20);
  });

  it.each([
    ["TRUNCATE", "TRUNCATE provisioning_audit_logs", /permission denied/],
    ["UPDATE", "UPDATE provisioning_audit_logs SET message = 'nothing happened'", /permission denied/],
    ["DELETE", "DELETE FROM provisioning_audit_logs", /permission denied/],
    ["disabling the append-only triggers", "ALTER TABLE provisioning_audit_logs DISABLE TRIGGER ALL", /must be owner/],
    ["replica mode, which skips triggers", "SET session_replication_role = replica", /permission denied/],
    ["dropping the table", "DROP TABLE provisioning_audit_logs", /must be owner/],
  ])("refuses the service's role %s on the audit log", async (_what, sql, error) => {
    await expect(asService.query(sql)).rejects.toThrow(error);
    const { rows } = await asOwner.query(`SELECT count(*)::int AS n FROM provisioning_audit_logs WHERE tenant_id = $1`, [tenantId]);
    expect(rows[0].n).toBeGreaterThan(20);
  });

  it("refuses even the owner a TRUNCATE of the audit log (statement trigger)", async () => {
    await expect(asOwner.query("TRUNCATE provisioning_audit_logs CASCADE")).rejects.toThrow(/provisioning_audit_logs is append-only/);
  });

  it.each([
    ["UPDATE", "UPDATE provisioning_audit_logs SET message = 'nothing happened'"],
    ["DELETE", "DELETE FROM provisioning_audit_logs"],
  ])("refuses even the owner %s on audit rows (row trigger)", async (_what, sql) => {
    const before = (await asOwner.query(`SELECT count(*)::int AS n, string_agg(message, '|' ORDER BY id) AS messages FROM provisioning_audit_logs`)).rows[0];
    await expect(asOwner.query(sql)).rejects.toThrow(/provisioning_audit_logs is append-only/);
    expect((await asOwner.query(`SELECT count(*)::int AS n, string_agg(message, '|' ORDER BY id) AS messages FROM provisioning_audit_logs`)).rows[0]).toEqual(before);
  });

  it("refuses a job queue schema the service's role does not own, which pg-boss could not alter", async () => {
    const other = await freshDatabase();
    try {
      await superuser(`ALTER DATABASE ${other.name} OWNER TO ${owner}`);
      // As after running with one role: the queue's schema (and its tables) belong to the owner.
      await superuser(`CREATE SCHEMA pgboss AUTHORIZATION ${owner}`, other.url);
      await superuser(`CREATE TABLE pgboss.version (version int)`, other.url);
      await superuser(`ALTER TABLE pgboss.version OWNER TO ${owner}`, other.url);
      const attempt = grantServiceRole(urlAs(other.url, owner), urlAs(other.url, serviceRole));
      await expect(attempt).rejects.toThrow(DatabaseRoleError);
      await expect(attempt).rejects.toThrow(`the job queue's schema pgboss and its tables must belong to DATABASE_URL's role "${serviceRole}" (pg-boss alters them as it runs), but another role owns the schema (owner "${owner}"), pgboss.version (owner "${owner}")`);
    } finally {
      await other.drop();
    }
  });

  it("refuses to start with one role in both URLs, naming the mistake", async () => {
    await expect(grantServiceRole(ownerUrl, ownerUrl)).rejects.toThrow(DatabaseRoleError);
    await expect(grantServiceRole(ownerUrl, ownerUrl)).rejects.toThrow(/both log in as/);
  });
});

describe.skipIf(!pgProbe.available)("the audit log with one role (DATABASE_URL alone, which migrates and owns the schema)", () => {
  const role = `matih_single_${process.pid}_${randomBytes(3).toString("hex")}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let url: string;
  let service: TestService;
  let asRole: pg.Client;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
      db = await freshDatabase();
      await admin.query(`ALTER DATABASE ${db.name} OWNER TO ${role}`);
    } finally {
      await admin.end();
    }
    url = urlAs(db.url, role);
    service = await startService(url, { DATABASE_URL: url });
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("single") })).json().tenant;
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    asRole = new pg.Client({ connectionString: url });
    await asRole.connect();
  });
  afterAll(async () => {
    await asRole?.end();
    await service?.close();
    await db?.drop();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end();
  });

  const snapshot = async () => (await asRole.query(`SELECT count(*)::int AS n, string_agg(message || actor, '|' ORDER BY id) AS rows FROM provisioning_audit_logs`)).rows[0];

  it("runs as the schema's owner: the one-role setup the service warns about", async () => {
    expect((await asRole.query(`SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`)).rows).toEqual([{ tableowner: role }]);
  });

  it.each([
    ["UPDATE", "UPDATE provisioning_audit_logs SET message = 'nothing happened'"],
    ["DELETE", "DELETE FROM provisioning_audit_logs"],
    ["TRUNCATE", "TRUNCATE provisioning_audit_logs CASCADE"],
  ])("still refuses the role %s on the audit log (the append-only triggers)", async (_what, sql) => {
    const before = await snapshot();
    expect(before.n).toBeGreaterThan(20);
    await expect(asRole.query(sql)).rejects.toThrow(/provisioning_audit_logs is append-only/);
    expect(await snapshot()).toEqual(before);
  });

  it("can switch the triggers off as the owner, but the hash chain names the row it removed", async () => {
    const victim = (await asRole.query(`SELECT id::int AS id, chain_seq::int AS seq FROM provisioning_audit_logs ORDER BY chain_seq OFFSET 3 LIMIT 1`)).rows[0];
    await asRole.query("BEGIN");
    await asRole.query("ALTER TABLE provisioning_audit_logs DISABLE TRIGGER USER");
    await asRole.query(`DELETE FROM provisioning_audit_logs WHERE id = $1`, [victim.id]);
    await asRole.query("ALTER TABLE provisioning_audit_logs ENABLE TRIGGER USER");
    await asRole.query("COMMIT");
    const report = (await service.app.inject({ method: "GET", url: "/api/v1/audit/verify", headers: auth() })).json();
    expect(report).toMatchObject({ ok: false, rows: victim.seq - 1, broken: { chainSeq: victim.seq + 1, reason: `1 row(s) before it are missing: the chain goes from ${victim.seq - 1} to ${victim.seq + 1}` } });
  });
});
