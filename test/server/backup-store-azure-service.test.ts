/**
 * A tenant's backup through the service with MATIH_BACKUP_STORE=azure, kept in
 * Azurite over https, listed, and restored: rows as they were. The service
 * runs as an operator runs it, in a process of its own configured only
 * through its environment, because the configuration takes only an https
 * container URL and the emulator's certificate is self-signed: the process
 * trusts it through NODE_EXTRA_CA_CERTS, which Node reads only at start, so
 * the store keeps no test-only way to swap its fetch or its trust.
 * The render engine makes no tenant schema; as in backups.test.ts the test
 * creates what phase 2 would in a database of its own (MATIH_TENANT_DATABASE_URL).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../server/config.ts";
import { containerName, startAzurite, type Azurite } from "../support/azurite.ts";
import { spawnService, type ServiceProcess } from "../support/entry-point.ts";
import { probePostgres, sql, TEST_DATABASE_URL } from "../support/postgres.ts";
import { ADMIN_TOKEN, freshDatabase, tenantRequest } from "../support/service.ts";

// Under CI=true a missing PostgreSQL fails here rather than skipping (probePostgres).
const database = await probePostgres();


describe("the backup store's https rule", () => {
  it("takes a path-style https container URL, as the emulator serves one, and still no http one", () => {
    const load = (url: string) => () => loadServiceConfig({ MATIH_DATA_DIR: "/srv/matih", MATIH_BACKUP_STORE: "azure", MATIH_BACKUP_AZURE_CONTAINER_URL: url, MATIH_BACKUP_AZURE_SAS_TOKEN: "sv=2021&sig=SECRETSIG" });
    expect(load("https://127.0.0.1:10000/devstoreaccount1/backups")().backups.store).toEqual({ kind: "azure", containerUrl: "https://127.0.0.1:10000/devstoreaccount1/backups", sasToken: "sv=2021&sig=SECRETSIG" });
    expect(load("http://127.0.0.1:10000/devstoreaccount1/backups")).toThrow(/MATIH_BACKUP_AZURE_CONTAINER_URL must be a container's https URL/);
    expect(load("https://127.0.0.1:10000/devstoreaccount1/backups/more/deep")).toThrow(/MATIH_BACKUP_AZURE_CONTAINER_URL must be/);
  });
});

describe.skipIf(!database.available)(`a tenant backed up into Azure Blob Storage (Azurite over https) and restored${database.available ? "" : ` [skipped: ${database.reason}]`}`, () => {
  const suffix = randomBytes(3).toString("hex");
  const slug = `h22az-${suffix}`;
  const schema = `tenant_h22az_${suffix}`;
  let azurite: Azurite;
  let containerUrl: string;
  let container: string;
  let sasToken: string;
  let serviceDb: Awaited<ReturnType<typeof freshDatabase>>;
  let tenantDb: Awaited<ReturnType<typeof freshDatabase>>;
  let dataDir = "";
  let service: ServiceProcess;
  let base = "";

  const api = async (method: string, url: string, body?: object) => {
    const res = await fetch(`${base}${url}`, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  /**
   * A restore as the API takes it: an admin action answered 200, or (restores
   * reviewed like changes) a request answered 202 that the admin then approves.
   */
  const restore = async (body: { backupId: string; skipBackup?: boolean }) => {
    const asked = await api("POST", `/api/v1/tenants/${slug}/restore`, body);
    if (asked.status !== 202) return asked;
    return api("POST", `/api/v1/tenants/${slug}/changes/${asked.json.id}/approve`, {});
  };
  const rows = () => sql(tenantDb.url, `SELECT id, name FROM ${schema}.items ORDER BY id`);

  beforeAll(async () => {
    azurite = await startAzurite({ https: true });
    container = containerName("h22-tenant-backups");
    containerUrl = await azurite.createContainer(container);
    sasToken = azurite.containerSas(container);
    serviceDb = await freshDatabase();
    tenantDb = await freshDatabase("matih_tenants");
    dataDir = await mkdtemp(path.join(tmpdir(), "matih-azure-service-"));
    service = spawnService({
      DATABASE_URL: serviceDb.url, MATIH_DATA_DIR: dataDir, MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN, PORT: "0", LOG_LEVEL: "info",
      MATIH_TENANT_DATABASE_URL: tenantDb.url, MATIH_MAX_ATTEMPTS: "1", MATIH_RETRY_DELAY_SECONDS: "0", MATIH_DRIFT_SCHEDULE: "off",
      MATIH_BACKUP_STORE: "azure", MATIH_BACKUP_AZURE_CONTAINER_URL: containerUrl, MATIH_BACKUP_AZURE_SAS_TOKEN: sasToken,
      NODE_EXTRA_CA_CERTS: azurite.caFile!,
    });
    base = await service.listening(120_000);
  }, 180_000);
  afterAll(async () => {
    await service?.stop();
    await azurite?.stop();
    await serviceDb?.drop();
    await tenantDb?.drop();
    // Roles are the server's, not the database's: the tenant role outlives its database.
    if (database.available) await sql(TEST_DATABASE_URL, `DROP ROLE IF EXISTS ${schema}`);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("stores the backup as a blob, lists it with its location, and restores it: rows as they were; the token in no answer or log line", async () => {
    const created = await api("POST", "/api/v1/tenants", tenantRequest(slug));
    expect(created.status, JSON.stringify(created.json)).toBe(202);
    const deadline = Date.now() + 120_000;
    let status: any;
    do {
      await new Promise((r) => setTimeout(r, 250));
      status = (await api("GET", `/api/v1/tenants/${slug}/provisioning/status`)).json;
    } while (status.status !== "ACTIVE" && status.status !== "FAILED" && Date.now() < deadline);
    expect(status.status).toBe("ACTIVE");

    // What phase 2 and the tenant's migrations would leave on the shared server.
    await sql(tenantDb.url, `CREATE ROLE ${schema} LOGIN; CREATE SCHEMA ${schema} AUTHORIZATION ${schema};
      SET ROLE ${schema}; CREATE TABLE ${schema}.items (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO ${schema}.items (name) SELECT 'item ' || n FROM generate_series(1, 40) AS n; RESET ROLE`);
    const before = await rows();
    expect(before).toHaveLength(40);

    const taken = await api("POST", `/api/v1/tenants/${slug}/backups`);
    expect(taken.status, JSON.stringify(taken.json)).toBe(201);
    const backup = taken.json;
    expect(backup).toMatchObject({ reason: "manual", schemaName: schema, store: "azure", format: "pg_dump custom" });
    expect(backup.location).toMatch(new RegExp(`^${containerUrl.replaceAll(".", "\\.")}/[A-Za-z0-9._-]+$`));
    // The blob is the dump the record describes, and the dump has left the work folder.
    const blob = await azurite.request("GET", `${backup.location}?${azurite.containerSas(container, "r")}`);
    expect(blob.status).toBe(200);
    expect(blob.body.subarray(0, 5).toString()).toBe("PGDMP");
    expect(blob.body.length).toBe(backup.sizeBytes);
    expect(createHash("sha256").update(blob.body).digest("hex")).toBe(backup.sha256);
    expect(await readdir(path.join(dataDir, "backup-work"))).toEqual([]);

    const listed = await api("GET", `/api/v1/tenants/${slug}/backups`);
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({ total: 1, items: [{ id: backup.id, store: "azure", location: backup.location, sha256: backup.sha256 }] });

    await sql(tenantDb.url, `DELETE FROM ${schema}.items WHERE id <= 30; INSERT INTO ${schema}.items (name) VALUES ('after')`);
    expect(await rows()).not.toEqual(before);
    const restored = await restore({ backupId: backup.id });
    expect(restored.status, JSON.stringify(restored.json)).toBe(200);
    expect(restored.json).toMatchObject({ restored: { id: backup.id }, safetyBackup: { reason: "before-restore", store: "azure" } });
    expect(await rows()).toEqual(before);
    expect(restored.json.safetyBackup.location.startsWith(`${containerUrl}/`)).toBe(true);

    // A blob gone from the store: the restore fails with the store's words, and changes nothing.
    expect((await azurite.request("DELETE", `${backup.location}?${sasToken}`)).status).toBe(202);
    const failed = await restore({ backupId: backup.id, skipBackup: true });
    expect(failed.status).toBe(502);
    expect(failed.json).toMatchObject({ code: "restore_failed", message: expect.stringContaining("Azure Blob Storage refused to return the backup (404") });
    expect(await rows()).toEqual(before);

    const sig = new URLSearchParams(sasToken).get("sig")!;
    for (const text of [JSON.stringify([taken, listed, restored, failed]), service.output()]) {
      expect(text).not.toContain(sig);
      expect(text).not.toContain(encodeURIComponent(sig));
    }
  }, 240_000);

  it("does not trust the emulator's self-signed certificate without NODE_EXTRA_CA_CERTS: the backup fails, the token unsaid", async () => {
    // A second process on the same database, as a replica, that was not told to trust the certificate.
    const untrustingDir = await mkdtemp(path.join(tmpdir(), "matih-azure-untrusting-"));
    const untrusting = spawnService({
      DATABASE_URL: serviceDb.url, MATIH_DATA_DIR: untrustingDir, MATIH_ENGINE: "render", MATIH_ADMIN_TOKEN: ADMIN_TOKEN,
      PORT: "0", LOG_LEVEL: "info", MATIH_TENANT_DATABASE_URL: tenantDb.url, MATIH_WORKER: "false", MATIH_DRIFT_SCHEDULE: "off",
      MATIH_BACKUP_STORE: "azure", MATIH_BACKUP_AZURE_CONTAINER_URL: containerUrl, MATIH_BACKUP_AZURE_SAS_TOKEN: sasToken,
    }, { unset: ["NODE_EXTRA_CA_CERTS"] });
    try {
      const url = await untrusting.listening(120_000);
      const res = await fetch(`${url}/api/v1/tenants/${slug}/backups`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = await res.text();
      expect(res.status, body).toBe(502);
      expect(JSON.parse(body)).toMatchObject({ code: "backup_failed", message: expect.stringContaining("Azure Blob Storage could not be reached to store the backup (DEPTH_ZERO_SELF_SIGNED_CERT)") });
      const sig = new URLSearchParams(sasToken).get("sig")!;
      expect(`${body} ${untrusting.output()}`).not.toContain(sig);
      expect(`${body} ${untrusting.output()}`).not.toContain(encodeURIComponent(sig));
    } finally {
      await untrusting.stop();
      await rm(untrustingDir, { recursive: true, force: true });
    }
  }, 180_000);
});
