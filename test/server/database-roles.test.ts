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
