import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PHASE_COUNT } from "../../../model/phases.ts";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import { findTenant, insertTenant, tenantSpecOf } from "../../../server/db/tenants.ts";
import { acmeSpec } from "../../support/acme.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const pgProbe = await probePostgres();

describe.skipIf(!pgProbe.available)("the tenants table", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    await migrateDatabase(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it("stores a spec as requested and reads the same spec back, when it was requested included", async () => {
    const spec = acmeSpec("professional", { id: "1b4e28ba-2fa1-41d2-883f-0016d3cca427", slug: "roundtrip", requestedAt: "2025-12-31T23:59:58.125Z", requestedBy: "control-plane@matih.ai" });
    await insertTenant(client, spec);
    // The row's own timestamps are not the spec's: moving them changes nothing read back.
    await client.query("UPDATE tenants SET created_at = created_at - interval '3 days' WHERE id = $1", [spec.id]);
    const row = await findTenant(client, "roundtrip");
    expect(tenantSpecOf(row!)).toEqual(spec);
  });

  it("takes any phase number the registry may grow to: no migration bounds phases or tiers", async () => {
    const spec = acmeSpec("free", { id: "2b4e28ba-2fa1-41d2-883f-0016d3cca427", slug: "bounds" });
    await insertTenant(client, spec);
    const beyond = PHASE_COUNT + 1;
    await client.query(
      `INSERT INTO provisioning_runs (id, tenant_id, kind, status, max_attempts, engine, target_phase, requested_by) VALUES ('3b4e28ba-2fa1-41d2-883f-0016d3cca427', $1, 'provision', 'QUEUED', 1, 'render', $2, 'test')`,
      [spec.id, beyond],
    );
    await client.query(`INSERT INTO run_phases (run_id, number, name, status) VALUES ('3b4e28ba-2fa1-41d2-883f-0016d3cca427', $1, 'AN_ELEVENTH_PHASE', 'PENDING')`, [beyond]);
    await client.query(`UPDATE tenants SET tier = 'a-new-tier' WHERE id = $1`, [spec.id]);
  });

  it("still refuses phase numbers no registry can have", async () => {
    await expect(client.query(
      `INSERT INTO provisioning_runs (id, tenant_id, kind, status, max_attempts, engine, target_phase, requested_by) VALUES ('4b4e28ba-2fa1-41d2-883f-0016d3cca427', '2b4e28ba-2fa1-41d2-883f-0016d3cca427', 'provision', 'QUEUED', 1, 'render', -1, 'test')`,
    )).rejects.toThrow(/provisioning_runs_target_phase_check/);
    await expect(client.query(`INSERT INTO run_phases (run_id, number, name, status) VALUES ('3b4e28ba-2fa1-41d2-883f-0016d3cca427', 0, 'NONE', 'PENDING')`)).rejects.toThrow(/run_phases_number_check/);
  });
});
