/**
 * Backups before anything destructive, restores, and the slug confirmation of
 * DELETE, on real PostgreSQL with the real pg_dump, pg_restore and psql.
 * The render engine creates no tenant schema (its phase 2 runs under Pulumi's
 * mock runtime), so these tests create what phase 2 would on a shared server
 * (the role and schema `tenant_{slug}`, tables, rows, sequences, grants) in a
 * database of their own, named to the service by MATIH_TENANT_DATABASE_URL.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../server/config.ts";
import { probePostgres, sql, TEST_DATABASE_URL } from "../support/postgres.ts";
import { auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, withService, type TestService } from "../support/service.ts";

const available = await probePostgres();

const suffix = randomBytes(3).toString("hex");
const READER = `matih_test_reader_${suffix}`;


/** What phase 2 and the tenant's migrations would leave on the shared server: role, schema, tables, rows, a sequence moved on, grants. */
async function seedTenantSchema(url: string, slug: string): Promise<string> {
  const schema = `tenant_${slug.replaceAll("-", "_")}`;
  await sql(url, `CREATE ROLE ${schema} LOGIN`);
  await sql(url, `CREATE SCHEMA ${schema} AUTHORIZATION ${schema}`);
  await sql(url, `
    SET ROLE ${schema};
    CREATE TABLE ${schema}.items (id serial PRIMARY KEY, name text NOT NULL, note text);
    CREATE SEQUENCE ${schema}.invoice_numbers START 1000;
    INSERT INTO ${schema}.items (name, note) SELECT 'item ' || n, 'mentions ${schema} in its data' FROM generate_series(1, 25) AS n;
    DELETE FROM ${schema}.items WHERE id > 20;
    SELECT nextval('${schema}.invoice_numbers') FROM generate_series(1, 7);
    GRANT USAGE ON SCHEMA ${schema} TO ${READER};
    GRANT SELECT ON ${schema}.items TO ${READER};
    RESET ROLE;`);
  return schema;
}

/** Everything a restore must bring back equal: rows, sequence positions, owners and grants. */
async function snapshot(url: string, schema: string) {
  const rows = await sql(url, `SELECT id, name, note FROM ${schema}.items ORDER BY id`);
  const sequences = await sql(url, `SELECT sequencename AS name, last_value::int AS "lastValue" FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, [schema]);
  const grants = await sql(url, `SELECT grantee, table_name AS "table", privilege_type AS privilege FROM information_schema.role_table_grants WHERE table_schema = $1 ORDER BY 1, 2, 3`, [schema]);
  const owners = await sql(url, `SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c WHERE c.relnamespace = $1::regnamespace ORDER BY 1`, [schema]);
  const schemaAcl = await sql(url, `SELECT pg_get_userbyid(nspowner) AS owner, array_to_string(nspacl, ',') AS acl FROM pg_namespace WHERE nspname = $1`, [schema]);
  return { rows, sequences, grants, owners, schemaAcl };
}

const fileMode = (file: string) => statSync(file).mode & 0o777;

describe("backup settings", () => {
  const load = (env: Record<string, string>) => () => loadServiceConfig({ MATIH_DATA_DIR: "/srv/matih", ...env });
  it("keeps backups in <data dir>/backups for 30 days by default, and takes Azure Blob Storage with a SAS token it never echoes", () => {
    expect(load({})().backups).toEqual({ store: { kind: "local", dir: "/srv/matih/backups" }, retentionDays: 30, tenantDatabaseUrl: null, pgBinDir: null });
    expect(load({ MATIH_BACKUP_STORE: "azure", MATIH_BACKUP_AZURE_CONTAINER_URL: "https://acct.blob.core.windows.net/backups", MATIH_BACKUP_AZURE_SAS_TOKEN: "sv=2024&sig=SECRETSIG", MATIH_BACKUP_RETENTION_DAYS: "7" })().backups)
      .toMatchObject({ store: { kind: "azure", containerUrl: "https://acct.blob.core.windows.net/backups", sasToken: "sv=2024&sig=SECRETSIG" }, retentionDays: 7 });
    expect(load({ MATIH_BACKUP_STORE: "s3" })).toThrow(/MATIH_BACKUP_STORE must be local or azure, got "s3"/);
    expect(load({ MATIH_BACKUP_STORE: "azure", MATIH_BACKUP_AZURE_CONTAINER_URL: "https://acct.blob.core.windows.net/backups?sig=x" })).toThrow(/MATIH_BACKUP_AZURE_CONTAINER_URL must be a container's https URL without a query[\s\S]*MATIH_BACKUP_AZURE_SAS_TOKEN must hold a SAS token/);
    expect(load({ MATIH_TENANT_DATABASE_URL: "mysql://root:hunter22@db/x" })).toThrow(/^(?![\s\S]*hunter22)[\s\S]*MATIH_TENANT_DATABASE_URL must be a postgres/);
    expect(load({ MATIH_BACKUP_RETENTION_DAYS: "0" })).toThrow(/MATIH_BACKUP_RETENTION_DAYS must be a whole number from 1 to 3650/);
  });
});

describe.skipIf(!available.available)("backups and restores of tenant databases on real PostgreSQL", () => {
  let serviceDb: Awaited<ReturnType<typeof freshDatabase>>;
  let tenantDb: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  const roles: string[] = [];
  const call = (method: "GET" | "POST" | "DELETE", url: string, payload?: object) => service.app.inject({ method, url, headers: auth(), ...(payload ? { payload } : {}) });
  const create = async (slug: string, extra: Record<string, unknown> = {}) => {
    const res = await call("POST", "/api/v1/tenants", tenantRequest(slug, "free", extra));
    expect(res.statusCode, res.body).toBe(202);
    return res.json().tenant as { id: string; slug: string };
  };
  const audit = async (id: string) => ((await call("GET", `/api/v1/tenants/${id}/audit`)).json().items as { message: string }[]).map((a) => a.message);
  /** A restore is reviewed like a change: asked for (202, PENDING_REVIEW), then approved (four eyes are off here, so by the same admin). */
  const restore = async (slug: string, payload: object) => {
    const asked = await call("POST", `/api/v1/tenants/${slug}/restore`, payload);
    expect(asked.statusCode, asked.body).toBe(202);
    expect(asked.json()).toMatchObject({ kind: "restore", status: "PENDING_REVIEW" });
    return call("POST", `/api/v1/tenants/${slug}/changes/${asked.json().id}/approve`, {});
  };

  beforeAll(async () => {
    serviceDb = await freshDatabase();
    tenantDb = await freshDatabase("matih_tenants");
    await sql(TEST_DATABASE_URL, `CREATE ROLE ${READER}`);
    service = await startService(serviceDb.url, { MATIH_TENANT_DATABASE_URL: tenantDb.url, MATIH_MAX_ATTEMPTS: "1" });
  });
  afterAll(async () => {
    await service?.close();
    await serviceDb?.drop();
    await tenantDb?.drop();
    for (const role of [...roles, READER]) await sql(TEST_DATABASE_URL, `DROP ROLE IF EXISTS ${role}`);
  });

  it("backs a tenant up on demand and restores it in place: rows, sequences, owners and grants as before, in a private folder", async () => {
    const slug = `keep-${suffix}`;
    const tenant = await create(slug);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    const schema = await seedTenantSchema(tenantDb.url, slug);
    roles.push(schema);
    const before = await snapshot(tenantDb.url, schema);
    expect(before.rows).toHaveLength(20);
    expect(before.grants).toContainEqual({ grantee: READER, table: "items", privilege: "SELECT" });

    const taken = await call("POST", `/api/v1/tenants/${slug}/backups`);
    expect(taken.statusCode, taken.body).toBe(201);
    const backup = taken.json();
    expect(backup).toMatchObject({ tenantId: tenant.id, reason: "manual", schemaName: schema, store: "local", format: "pg_dump custom", removedAt: null });
    // The file is what the record says, and only the service's user may read it.
    const bytes = readFileSync(backup.location);
    expect(bytes.subarray(0, 5).toString()).toBe("PGDMP");
    expect(backup.sizeBytes).toBe(bytes.length);
    expect(backup.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(path.dirname(backup.location)).toBe(path.join(service.dataDir, "backups"));
    expect(fileMode(backup.location)).toBe(0o600);
    expect(fileMode(path.dirname(backup.location))).toBe(0o700);
    const kept = new Date(backup.expiresAt).getTime() - new Date(backup.createdAt).getTime();
    expect(Math.round(kept / 86_400_000)).toBe(30);
    const listed = (await call("GET", `/api/v1/tenants/${slug}/backups`)).json();
    expect(listed).toMatchObject({ total: 1, items: [{ id: backup.id }] });

    // Everything changes after the backup: rows, the sequences, a grant, a new table.
    await sql(tenantDb.url, `DELETE FROM ${schema}.items WHERE id < 10; INSERT INTO ${schema}.items (name) VALUES ('after'); SELECT nextval('${schema}.invoice_numbers');
      REVOKE SELECT ON ${schema}.items FROM ${READER}; CREATE TABLE ${schema}.later (x int)`);
    expect(await snapshot(tenantDb.url, schema)).not.toEqual(before);

    const restored = await restore(slug, { backupId: backup.id });
    expect(restored.statusCode, restored.body).toBe(200);
    expect(restored.json()).toMatchObject({ change: { kind: "restore", status: "APPLIED" }, tenant: { id: tenant.id }, run: null, restored: { id: backup.id }, safetyBackup: { reason: "before-restore" } });
    expect(await snapshot(tenantDb.url, schema)).toEqual(before);
    expect((await sql(tenantDb.url, `SELECT to_regclass('${schema}.later') AS t`))[0].t).toBeNull();
    // The sequence is where it was at the backup (25 ids used, 5 of those rows deleted): the id 'after' took is handed out again.
    expect((await sql(tenantDb.url, `INSERT INTO ${schema}.items (name) VALUES ('next') RETURNING id`))[0].id).toBe(26);
    expect(await audit(tenant.id)).toContainEqual(expect.stringMatching(new RegExp(`^backup ${backup.id} \\(${schema}, taken .*\\) restored by admin; what it replaced is backup ${restored.json().safetyBackup.id} \\(restore request ${restored.json().change.id}, requested by admin, approved by admin\\)$`)));

    // A tampered file is refused, and the data stays as it is.
    writeFileSync(backup.location, Buffer.concat([bytes, Buffer.from("x")]));
    const refused = await restore(slug, { backupId: backup.id, skipBackup: true });
    expect(refused.statusCode).toBe(502);
    expect(refused.json()).toMatchObject({ code: "restore_failed", message: expect.stringContaining("does not match its recorded sha256") });
    expect((await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`))[0].n).toBe(21);
    writeFileSync(backup.location, bytes);
  });

  it("deletes an ACTIVE tenant only with its slug, backs it up first, and restores that backup into a new tenant (restoreFrom)", async () => {
    const slug = `gone-${suffix}`;
    const tenant = await create(slug);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    const schema = await seedTenantSchema(tenantDb.url, slug);
    roles.push(schema);
    const before = await snapshot(tenantDb.url, schema);

    const missing = await call("DELETE", `/api/v1/tenants/${tenant.id}`);
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: "confirmation_required", message: `deleting an ACTIVE tenant needs its slug as confirmation: send ?confirm=${slug} (or {"confirm": "${slug}"} in the body)` });
    const wrong = await call("DELETE", `/api/v1/tenants/${tenant.id}?confirm=keep-${suffix}`);
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().message).toBe(`the confirmation "keep-${suffix}" is not this tenant's slug; to delete it, confirm with ${slug}`);
    expect((await call("GET", `/api/v1/tenants/${tenant.id}`)).json().status).toBe("ACTIVE");

    const deleted = await call("DELETE", `/api/v1/tenants/${tenant.id}`, { confirm: slug });
    expect(deleted.statusCode, deleted.body).toBe(202);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("DELETED");
    const [backup] = (await call("GET", `/api/v1/tenants/${tenant.id}/backups`)).json().items;
    expect(backup).toMatchObject({ reason: "teardown", runId: deleted.json().run.id, schemaName: schema, requestedBy: "admin" });
    expect(await audit(tenant.id)).toContainEqual(`backup ${backup.id} of ${schema} taken before the teardown: ${backup.sizeBytes} bytes, sha256 ${backup.sha256}, kept until ${backup.expiresAt}`);

    // A new tenant from the deleted one's backup: its phase 2 made its own role and schema; the backup's data goes in, renamed.
    const newSlug = `back-${suffix}`;
    const newSchema = `tenant_back_${suffix}`;
    await sql(tenantDb.url, `CREATE ROLE ${newSchema} LOGIN; CREATE SCHEMA ${newSchema} AUTHORIZATION ${newSchema}`);
    roles.push(newSchema);
    const reborn = await create(newSlug, { restoreFrom: backup.id });
    expect((await waitForStatus(service.app, reborn.id, settled)).status).toBe("ACTIVE");
    // Names, owners and grants become the new tenant's; the rows are as they were, to the letter (one mentions the old schema).
    const renamed = JSON.parse(JSON.stringify({ ...before, rows: [] }).replaceAll(schema, newSchema));
    expect(await snapshot(tenantDb.url, newSchema)).toEqual({ ...renamed, rows: before.rows });
    expect(before.rows[0].note).toBe(`mentions ${schema} in its data`);
    expect(await audit(reborn.id)).toContainEqual(expect.stringMatching(new RegExp(`^backup ${backup.id} \\(${schema}, taken .*\\) restored into the new tenant, as admin asked \\(restoreFrom\\)$`)));

    // Only a deleted tenant's backup starts a new tenant.
    const live = (await call("POST", `/api/v1/tenants/keep-${suffix}/backups`)).json();
    const refused = await call("POST", "/api/v1/tenants", tenantRequest(`nope-${suffix}`, "free", { restoreFrom: live.id }));
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toContain(`belongs to keep-${suffix}, which is ACTIVE`);
  });

  it("deletes a backup's file once its retention is over, keeps its record with removedAt, and restores it no more", async () => {
    const slug = `keep-${suffix}`;
    const backup = (await call("POST", `/api/v1/tenants/${slug}/backups`)).json();
    expect(statSync(backup.location).isFile()).toBe(true);
    expect(await service.app.backups.prune()).toBe(0);
    await sql(serviceDb.url, `UPDATE tenant_backups SET expires_at = now() - interval '1 second' WHERE id = $1`, [backup.id]);
    expect(await service.app.backups.prune()).toBe(1);
    expect(() => statSync(backup.location)).toThrow(/ENOENT/);
    const listed = (await call("GET", `/api/v1/tenants/${slug}/backups`)).json().items.find((b: any) => b.id === backup.id);
    expect(listed.removedAt).not.toBeNull();
    const refused = await call("POST", `/api/v1/tenants/${slug}/restore`, { backupId: backup.id });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: "backup_removed" });
  });

  it("fails a teardown whose backup cannot be taken, deleting nothing; skipBackup then goes on and the audit log says who asked", async () => {
    const closedPort = new URL(tenantDb.url);
    closedPort.port = "1";
    await withService({ MATIH_TENANT_DATABASE_URL: closedPort.toString(), MATIH_MAX_ATTEMPTS: "1" }, async (other) => {
      const call2 = (method: "POST" | "DELETE", url: string, payload?: object) => other.app.inject({ method, url, headers: auth(), ...(payload ? { payload } : {}) });
      const slug = `stay-${suffix}`;
      const { tenant } = (await call2("POST", "/api/v1/tenants", tenantRequest(slug))).json();
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("ACTIVE");
      expect((await call2("DELETE", `/api/v1/tenants/${slug}?confirm=${slug}`)).statusCode).toBe(202);
      const failed = await waitForStatus(other.app, tenant.id, (s) => s.run?.status === "FAILED");
      expect(failed.status).toBe("DEPROVISIONING");
      expect(failed.error).toMatch(/^the backup before the teardown failed, so nothing was deleted: could not reach the tenant database 127\.0\.0\.1:1\//);
      // No phase was torn down.
      expect(failed.phases.every((p: any) => p.status === "PENDING")).toBe(true);

      expect((await call2("DELETE", `/api/v1/tenants/${slug}?skipBackup=true`)).statusCode).toBe(202);
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("DELETED");
      const messages = ((await other.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items as { message: string }[]).map((a) => a.message);
      expect(messages).toContain("teardown requested; admin asked to skip the backup (skipBackup)");
      expect(messages).toContain("no backup before the teardown: admin asked to skip it (skipBackup)");
    });
  });

  it("backs up before a rollback below phase 2 and before an approved destructive change, and not before a rollback that keeps the database", async () => {
    // Every tenant's first provisioning fails in phase 9 (one attempt): FAILED, to roll back; a retry then succeeds.
    await withService({ MATIH_TENANT_DATABASE_URL: tenantDb.url, MATIH_MAX_ATTEMPTS: "1", MATIH_RENDER_FAULTS: JSON.stringify({ 9: { failTimes: 1 } }) }, async (other) => {
      const call2 = (method: "GET" | "POST", url: string, payload?: object) => other.app.inject({ method, url, headers: auth(), ...(payload ? { payload } : {}) });
      const backupsOf = async (id: string) => (await call2("GET", `/api/v1/tenants/${id}/backups`)).json().items as any[];

      const slug = `roll-${suffix}`;
      const { tenant } = (await call2("POST", "/api/v1/tenants", tenantRequest(slug))).json();
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("FAILED");
      roles.push(await seedTenantSchema(tenantDb.url, slug));
      expect((await call2("POST", `/api/v1/tenants/${tenant.id}/rollback`, { targetPhase: 8 })).statusCode).toBe(202);
      await waitForStatus(other.app, tenant.id, (s) => s.run?.kind === "rollback" && settled(s));
      expect(await backupsOf(tenant.id)).toEqual([]);
      const below = await call2("POST", `/api/v1/tenants/${tenant.id}/rollback`, { targetPhase: 1 });
      expect(below.statusCode, below.body).toBe(202);
      await waitForStatus(other.app, tenant.id, (s) => s.run?.id === below.json().run.id && settled(s));
      expect(await backupsOf(tenant.id)).toEqual([expect.objectContaining({ reason: "rollback", runId: below.json().run.id })]);

      const moving = `move-${suffix}`;
      const second = (await call2("POST", "/api/v1/tenants", tenantRequest(moving))).json().tenant;
      expect((await waitForStatus(other.app, second.id, settled)).status).toBe("FAILED");
      expect((await call2("POST", `/api/v1/tenants/${second.id}/provisioning/retry`)).statusCode).toBe(202);
      expect((await waitForStatus(other.app, second.id, (s) => s.run?.kind === "retry" && settled(s))).status).toBe("ACTIVE");
      roles.push(await seedTenantSchema(tenantDb.url, moving));
      const change = (await call2("POST", `/api/v1/tenants/${second.id}/changes`, { tier: "enterprise" })).json();
      const deadline = Date.now() + 60_000;
      while ((await call2("GET", `/api/v1/tenants/${second.id}/changes/${change.id}`)).json().status !== "PENDING_REVIEW" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const approved = await call2("POST", `/api/v1/tenants/${second.id}/changes/${change.id}/approve`, { allowDestructive: true });
      expect(approved.statusCode, approved.body).toBe(202);
      expect((await waitForStatus(other.app, second.id, (s) => s.run?.kind === "update" && settled(s))).status).toBe("ACTIVE");
      // Taken of the free tenant's schema on the shared server, before the move to a dedicated server.
      expect(await backupsOf(second.id)).toEqual([expect.objectContaining({ reason: "destructive-change", runId: approved.json().run.id, schemaName: `tenant_move_${suffix}` })]);
    });
  });

  it("under four eyes asks the requester for the slug, and the approval keeps the request's skipBackup", async () => {
    const ALICE = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
    const BOB = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";
    await withService({ MATIH_TENANT_DATABASE_URL: tenantDb.url, MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MATIH_REQUIRE_SEPARATE_APPROVER: "true" }, async (other) => {
      const as = (token: string, method: "GET" | "POST" | "DELETE", url: string, payload?: object) => other.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
      const slug = `eyes-${suffix}`;
      const { tenant } = (await as(ALICE, "POST", "/api/v1/tenants", tenantRequest(slug))).json();
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("ACTIVE");
      roles.push(await seedTenantSchema(tenantDb.url, slug));

      const unconfirmed = await as(ALICE, "DELETE", `/api/v1/tenants/${slug}?skipBackup=true`);
      expect(unconfirmed.statusCode).toBe(400);
      expect(unconfirmed.json().code).toBe("confirmation_required");
      expect((await as(ALICE, "GET", `/api/v1/tenants/${slug}/changes`)).json().items).toEqual([]);

      const asked = await as(ALICE, "DELETE", `/api/v1/tenants/${slug}`, { confirm: slug, skipBackup: true });
      expect(asked.statusCode, asked.body).toBe(202);
      const approved = await as(BOB, "POST", `/api/v1/tenants/${tenant.id}/changes/${asked.json().change.id}/approve`, {});
      expect(approved.statusCode, approved.body).toBe(202);
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("DELETED");
      expect((await as(BOB, "GET", `/api/v1/tenants/${tenant.id}/backups`)).json().items).toEqual([]);
      const messages = ((await as(BOB, "GET", `/api/v1/tenants/${tenant.id}/audit`)).json().items as { message: string }[]).map((m) => m.message);
      expect(messages).toContain("no backup before the teardown: bob asked to skip it (skipBackup)");
    });
  });

  it("on the render engine without a tenant database, records that there was nothing to back up", async () => {
    await withService({}, async (other) => {
      const { tenant } = (await other.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(`none-${suffix}`) })).json();
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("ACTIVE");
      expect((await other.app.inject({ method: "DELETE", url: `/api/v1/tenants/${tenant.id}?confirm=none-${suffix}`, headers: auth() })).statusCode).toBe(202);
      expect((await waitForStatus(other.app, tenant.id, settled)).status).toBe("DELETED");
      const messages = ((await other.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit`, headers: auth() })).json().items as { message: string }[]).map((a) => a.message);
      expect(messages).toContain("no backup before the teardown: the render engine creates no tenant database (its phase 2 runs under Pulumi's mock runtime); set MATIH_TENANT_DATABASE_URL to back up tenant schemas from a PostgreSQL");
    });
  });
});
