/**
 * A restore through review, like a change (issue 22 item 4): asking for it
 * records a `restore` change awaiting review, listed in the review queue;
 * approval (four eyes on: by another admin) performs it and marks it APPLIED,
 * or FAILED with the data as it was; rejection ends it; a run after the
 * request makes it stale. On real PostgreSQL with the real pg_dump,
 * pg_restore and psql, in a tenant database of the test's own (as in
 * backups.test.ts: the render engine creates no tenant schema).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres, sql, TEST_DATABASE_URL } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();

const ALICE = "rR5tQ2wE8yU1iO4pA7sD3fG6hJ9kL0zX";
const BOB = "mN3bV6cX9zL2kJ5hG8fD1sA4qW7eR0tY";
const suffix = randomBytes(3).toString("hex");


/** What phase 2 would leave on the shared server: the tenant's role and schema, a table with rows, a sequence moved on. */
async function seedTenantSchema(url: string, slug: string): Promise<string> {
  const schema = `tenant_${slug.replaceAll("-", "_")}`;
  await sql(url, `CREATE ROLE ${schema} LOGIN`);
  await sql(url, `CREATE SCHEMA ${schema} AUTHORIZATION ${schema}`);
  await sql(url, `
    SET ROLE ${schema};
    CREATE TABLE ${schema}.items (id serial PRIMARY KEY, name text NOT NULL);
    INSERT INTO ${schema}.items (name) SELECT 'item ' || n FROM generate_series(1, 12) AS n;
    RESET ROLE;`);
  return schema;
}

const snapshot = async (url: string, schema: string) => ({
  rows: await sql(url, `SELECT id, name FROM ${schema}.items ORDER BY id`),
  tables: (await sql(url, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema])).map((r) => r.t),
  sequence: await sql(url, `SELECT last_value::int AS v FROM pg_sequences WHERE schemaname = $1`, [schema]),
});

describe.skipIf(!postgres.available)("restores through review on real PostgreSQL", () => {
  let serviceDb: Awaited<ReturnType<typeof freshDatabase>>;
  let tenantDb: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  const roles: string[] = [];

  const call = (method: "GET" | "POST", url: string, token: string, payload?: object) =>
    service.app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });
  const approve = (tenantId: string, changeId: string, token: string) => call("POST", `/api/v1/tenants/${tenantId}/changes/${changeId}/approve`, token, {});
  const change = async (tenantId: string, changeId: string) => (await call("GET", `/api/v1/tenants/${tenantId}/changes/${changeId}`, ADMIN_TOKEN)).json();
  const audit = async (id: string) => ((await call("GET", `/api/v1/tenants/${id}/audit?limit=1000`, ADMIN_TOKEN)).json().items as { message: string }[]).map((a) => a.message);

  /** An ACTIVE tenant with a seeded schema, and a manual backup of it taken by alice. */
  async function backedUpTenant(name: string) {
    const slug = `${name}-${suffix}`;
    const created = await call("POST", "/api/v1/tenants", ADMIN_TOKEN, tenantRequest(slug, "free"));
    expect(created.statusCode, created.body).toBe(202);
    const tenant = created.json().tenant as { id: string; slug: string };
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");
    const schema = await seedTenantSchema(tenantDb.url, slug);
    roles.push(schema);
    const taken = await call("POST", `/api/v1/tenants/${tenant.id}/backups`, ALICE);
    expect(taken.statusCode, taken.body).toBe(201);
    return { tenant, schema, backup: taken.json() };
  }

  beforeAll(async () => {
    serviceDb = await freshDatabase();
    tenantDb = await freshDatabase("matih_tenants");
    service = await startService(serviceDb.url, {
      MATIH_TENANT_DATABASE_URL: tenantDb.url,
      MATIH_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`,
      MATIH_REQUIRE_SEPARATE_APPROVER: "true",
      MATIH_MAX_ATTEMPTS: "1",
    });
  });
  afterAll(async () => {
    await service?.close();
    await serviceDb?.drop();
    await tenantDb?.drop();
    for (const role of roles) await sql(TEST_DATABASE_URL, `DROP ROLE IF EXISTS ${role}`);
  });

  it("asks, lists in the review queue, refuses the requester's own approval, and restores on another admin's: rows as backed up, APPLIED", async () => {
    const { tenant, schema, backup } = await backedUpTenant("round");
    const before = await snapshot(tenantDb.url, schema);
    await sql(tenantDb.url, `DELETE FROM ${schema}.items WHERE id < 5; INSERT INTO ${schema}.items (name) VALUES ('after'); CREATE TABLE ${schema}.later (x int)`);
    const changed = await snapshot(tenantDb.url, schema);
    expect(changed).not.toEqual(before);

    const asked = await call("POST", `/api/v1/tenants/${tenant.slug}/restore`, ALICE, { backupId: backup.id });
    expect(asked.statusCode, asked.body).toBe(202);
    const request = asked.json();
    expect(asked.headers.location).toBe(`/api/v1/tenants/${tenant.id}/changes/${request.id}`);
    expect(request).toMatchObject({
      kind: "restore", status: "PENDING_REVIEW", createdBy: "alice", preview: null, runId: null,
      requested: {
        backupId: backup.id,
        backup: { id: backup.id, tenantId: tenant.id, schemaName: schema, reason: "manual", sizeBytes: backup.sizeBytes, createdAt: backup.createdAt },
        replaces: expect.stringContaining("backed up first"),
      },
    });
    expect(request.requested.skipBackup).toBeUndefined();
    // Nothing is restored by asking.
    expect(await snapshot(tenantDb.url, schema)).toEqual(changed);
    // Asked twice while it waits: the same request.
    const again = await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: backup.id });
    expect(again.statusCode).toBe(202);
    expect(again.json().id).toBe(request.id);

    const queue = (await call("GET", `/api/v1/changes?tenant=${tenant.slug}`, BOB)).json();
    expect(queue.items).toEqual([expect.objectContaining({ kind: "tenant", id: request.id, action: "restore", status: "PENDING_REVIEW", requestedBy: "alice", tenant: expect.objectContaining({ id: tenant.id }) })]);

    const own = await approve(tenant.id, request.id, ALICE);
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe("same_principal");
    expect(await snapshot(tenantDb.url, schema)).toEqual(changed);
    expect((await change(tenant.id, request.id)).status).toBe("PENDING_REVIEW");

    const approved = await approve(tenant.id, request.id, BOB);
    expect(approved.statusCode, approved.body).toBe(200);
    const answer = approved.json();
    expect(answer).toMatchObject({
      change: { id: request.id, kind: "restore", status: "APPLIED", decidedBy: "bob" },
      tenant: { id: tenant.id, status: "ACTIVE" }, run: null,
      restored: { id: backup.id }, safetyBackup: { reason: "before-restore", requestedBy: "bob", tenantId: tenant.id },
    });
    expect(answer.change.appliedAt).not.toBeNull();
    expect(await snapshot(tenantDb.url, schema)).toEqual(before);
    // The safety backup holds what the restore replaced: restoring it would bring 'after' and the later table back.
    const safety = (await call("GET", `/api/v1/tenants/${tenant.id}/backups`, ADMIN_TOKEN)).json().items.find((b: any) => b.id === answer.safetyBackup.id);
    expect(safety).toMatchObject({ reason: "before-restore", removedAt: null });
    expect((await call("GET", `/api/v1/changes?tenant=${tenant.slug}`, BOB)).json().items).toEqual([]);
    const messages = await audit(tenant.id);
    expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^restore of backup ${backup.id} \\(${schema}, taken .*\\) into ${tenant.slug} requested by alice; it awaits review$`)));
    expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^backup ${backup.id} \\(${schema}, taken .*\\) restored by bob; what it replaced is backup ${answer.safetyBackup.id} \\(restore request ${request.id}, requested by alice, approved by bob\\)$`)));
    expect(messages).toContain(`restore request ${request.id} applied: backup ${backup.id} restored, what it replaced is backup ${answer.safetyBackup.id}`);
    // Applied: it cannot be approved again.
    expect((await approve(tenant.id, request.id, BOB)).json().code).toBe("change_not_pending");
  });

  it("ends a rejected request without restoring; a skipBackup request is a request of its own", async () => {
    const { tenant, schema, backup } = await backedUpTenant("reject");
    await sql(tenantDb.url, `DELETE FROM ${schema}.items`);
    const plain = (await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: backup.id })).json();
    const skipping = await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: backup.id, skipBackup: true });
    expect(skipping.statusCode).toBe(202);
    expect(skipping.json().id).not.toBe(plain.id);
    expect(skipping.json().requested).toMatchObject({ skipBackup: true, replaces: expect.stringContaining("without a backup") });

    const rejected = await call("POST", `/api/v1/tenants/${tenant.id}/changes/${skipping.json().id}/reject`, BOB, { reason: "restore the other one" });
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(rejected.json()).toMatchObject({ kind: "restore", status: "REJECTED", rejectionReason: "restore the other one", decidedBy: "bob" });
    const late = await approve(tenant.id, skipping.json().id, BOB);
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe("change_not_pending");
    expect((await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`))[0].n).toBe(0);
    const queue = (await call("GET", `/api/v1/changes?tenant=${tenant.id}`, BOB)).json().items.map((c: any) => c.id);
    expect(queue).toEqual([plain.id]);
    // The other request still restores.
    expect((await approve(tenant.id, plain.id, BOB)).statusCode).toBe(200);
    expect((await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`))[0].n).toBe(12);
  });

  it("refuses a request the tenant has moved on from (a run after it): STALE, nothing restored", async () => {
    const { tenant, schema, backup } = await backedUpTenant("stale");
    await sql(tenantDb.url, `DELETE FROM ${schema}.items WHERE id > 6`);
    const request = (await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: backup.id })).json();
    expect(request.status).toBe("PENDING_REVIEW");

    // A change approved and applied after the request: an update run.
    const asked = await call("POST", `/api/v1/tenants/${tenant.id}/changes`, ALICE, {});
    expect(asked.statusCode, asked.body).toBe(202);
    const deadline = Date.now() + 60_000;
    while ((await change(tenant.id, asked.json().id)).status === "PREVIEWING" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const updated = await approve(tenant.id, asked.json().id, BOB);
    expect(updated.statusCode, updated.body).toBe(202);
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");

    const refused = await approve(tenant.id, request.id, BOB);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: "request_stale", message: expect.stringContaining("a update run started after the request") });
    expect((await change(tenant.id, request.id)).status).toBe("STALE");
    expect((await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`))[0].n).toBe(6);
  });

  it("fails an approved restore whose file no longer matches its sha256: FAILED with the error, the data as it was", async () => {
    const { tenant, schema, backup } = await backedUpTenant("tamper");
    await sql(tenantDb.url, `INSERT INTO ${schema}.items (name) VALUES ('kept')`);
    const before = await snapshot(tenantDb.url, schema);
    const request = (await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: backup.id })).json();
    const bytes = readFileSync(backup.location);
    writeFileSync(backup.location, Buffer.concat([bytes, Buffer.from("x")]));
    try {
      const approved = await approve(tenant.id, request.id, BOB);
      expect(approved.statusCode).toBe(502);
      expect(approved.json()).toMatchObject({ code: "restore_failed", message: expect.stringContaining("does not match its recorded sha256") });
      const failed = await change(tenant.id, request.id);
      expect(failed).toMatchObject({ status: "FAILED", decidedBy: "bob", appliedAt: null, error: expect.stringContaining("does not match its recorded sha256") });
      expect(await snapshot(tenantDb.url, schema)).toEqual(before);
      expect(await audit(tenant.id)).toContainEqual(expect.stringMatching(new RegExp(`^restore request ${request.id} failed: backup ${backup.id} does not match its recorded sha256`)));
      const again = await approve(tenant.id, request.id, BOB);
      expect(again.json()).toMatchObject({ code: "change_not_pending", message: expect.stringContaining("the restore failed; request it again") });
    } finally {
      writeFileSync(backup.location, bytes);
    }
  });

  it("refuses to ask for what could not be restored: another live tenant's backup, an unknown backup", async () => {
    const { tenant, backup } = await backedUpTenant("owner");
    const other = await call("POST", "/api/v1/tenants", ADMIN_TOKEN, tenantRequest(`other-${suffix}`, "free"));
    expect(other.statusCode).toBe(202);
    expect((await waitForStatus(service.app, other.json().tenant.id, settled)).status).toBe("ACTIVE");
    const foreign = await call("POST", `/api/v1/tenants/${other.json().tenant.id}/restore`, ALICE, { backupId: backup.id });
    expect(foreign.statusCode).toBe(409);
    expect(foreign.json()).toMatchObject({ code: "invalid_request", message: expect.stringContaining(`belongs to tenant ${tenant.slug}, which is not deleted`) });
    const unknown = await call("POST", `/api/v1/tenants/${tenant.id}/restore`, ALICE, { backupId: "00000000-0000-4000-8000-000000000000" });
    expect(unknown.statusCode).toBe(404);
    expect((await call("GET", `/api/v1/tenants/${other.json().tenant.id}/changes`, ADMIN_TOKEN)).json().items).toEqual([]);
  });
});
