/**
 * `matih tenants backups`, `tenants restore` and the approval of a restore
 * request through `matih changes`, against a real service (render engine,
 * real PostgreSQL, the real pg_dump, pg_restore and psql) whose tenant
 * database is the test's own: the render engine creates no tenant schema, so
 * the test lays down what phase 2 would. The approval restores then and
 * there: no run to follow, the restored rows in the database afterwards.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePostgres, sql, TEST_DATABASE_URL } from "../support/postgres.ts";
import { auth, freshDatabase, settled, tenantRequest, waitForStatus } from "../support/service.ts";
import { useCliService } from "./support.ts";

const postgres = await probePostgres();
const suffix = randomBytes(3).toString("hex");
const slug = `keep-${suffix}`;
const schema = `tenant_${slug.replaceAll("-", "_")}`;


describe.skipIf(!postgres.available)("matih restores a backup through review", () => {
  let tenantDb: Awaited<ReturnType<typeof freshDatabase>>;
  const env: Record<string, string> = {};
  beforeAll(async () => {
    tenantDb = await freshDatabase("matih_cli_tenants");
    env.MATIH_TENANT_DATABASE_URL = tenantDb.url;
  });
  // useCliService reads env in its own beforeAll, which runs after the one above.
  const cli = useCliService(env);
  afterAll(async () => {
    await tenantDb?.drop();
    await sql(TEST_DATABASE_URL, `DROP ROLE IF EXISTS ${schema}`);
  });

  it("lists the backups, asks for a restore, shows it, and restores on approval with no run", async () => {
    const created = await cli.service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug, "free") });
    expect(created.statusCode, created.body).toBe(202);
    expect((await waitForStatus(cli.service.app, slug, settled)).status).toBe("ACTIVE");
    await sql(tenantDb.url, `CREATE ROLE ${schema} LOGIN; CREATE SCHEMA ${schema} AUTHORIZATION ${schema};
      SET ROLE ${schema}; CREATE TABLE ${schema}.items (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO ${schema}.items (name) SELECT 'item ' || n FROM generate_series(1, 7) AS n; RESET ROLE;`);

    expect((await cli.run(["tenants", "backups", slug])).stdout).toBe("no backups\n");
    const taken = await cli.service.app.inject({ method: "POST", url: `/api/v1/tenants/${slug}/backups`, headers: auth() });
    expect(taken.statusCode, taken.body).toBe(201);
    const backup = taken.json();
    const listed = await cli.run(["tenants", "backups", slug]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^ID\\s+REASON\\s+TAKEN\\s+SIZE\\s+KEPT UNTIL\\n${backup.id.slice(0, 8)}\\s+manual\\s+\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+\\d+(\\.\\d)? KiB\\s+\\d\\d-\\d\\d \\d\\d:\\d\\d\\n$`));
    expect(JSON.parse((await cli.run(["tenants", "backups", slug, "-o", "json"])).stdout).items.map((b: { id: string }) => b.id)).toEqual([backup.id]);

    await sql(tenantDb.url, `DELETE FROM ${schema}.items WHERE id <= 5`);
    const prefix = await cli.run(["tenants", "restore", slug, backup.id.slice(0, 8)]);
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toContain("the backup must be its whole id");

    const asked = await cli.run(["tenants", "restore", slug, backup.id]);
    expect(asked.code, asked.stderr).toBe(0);
    const changeId = /^restore request ([0-9a-f-]{36}) awaits review/.exec(asked.stdout)?.[1];
    expect(changeId, asked.stdout).toBeDefined();
    expect(asked.stdout).toContain(`approve it with: matih changes approve ${slug} ${changeId!.slice(0, 8)}`);
    // Asking restores nothing.
    expect(await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`)).toEqual([{ n: 2 }]);

    const shown = await cli.run(["changes", "show", slug, changeId!.slice(0, 8)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^kind:\s+restore$/m);
    expect(shown.stdout).toContain(`restores: backup ${backup.id} of ${schema}, taken `);
    expect(shown.stdout).toMatch(/^replaces: .*backed up first/m);
    expect(shown.stdout).toContain("approving it restores the backup then and there (no run)");
    expect(shown.stdout).not.toContain("queues the restore run");

    const approved = await cli.run(["changes", "approve", slug, changeId!.slice(0, 8), "--watch"]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`change ${changeId!.slice(0, 8)} approved: backup ${backup.id} (manual, taken ${backup.createdAt}) restored into ${slug}'s database.`);
    const safety = /backed up first: backup ([0-9a-f-]{36}); undo with: matih tenants restore/.exec(approved.stdout)?.[1];
    expect(safety, approved.stdout).toBeDefined();
    expect(await sql(tenantDb.url, `SELECT count(*)::int AS n FROM ${schema}.items`)).toEqual([{ n: 7 }]);
    const after = JSON.parse((await cli.run(["tenants", "backups", slug, "-o", "json"])).stdout).items as { id: string; reason: string }[];
    expect(after.map((b) => [b.id, b.reason])).toEqual([[safety, "before-restore"], [backup.id, "manual"]]);
    const change = JSON.parse((await cli.run(["changes", "show", slug, changeId!, "-o", "json"])).stdout);
    expect(change.status).toBe("APPLIED");
  });
});
