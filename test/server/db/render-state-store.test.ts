import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderRecord } from "../../../automation/index.ts";
import { migrateDatabase } from "../../../server/db/migrate.ts";
import { PostgresRenderStateStore } from "../../../server/db/render-state-store.ts";
import { acmeSpec } from "../../support/acme.ts";
import { probePostgres } from "../../support/postgres.ts";
import { freshDatabase } from "../../support/service.ts";

const pgProbe = await probePostgres();

describe.skipIf(!pgProbe.available)("the render engine's records in Postgres", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await freshDatabase();
    await migrateDatabase(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it("gives a record back as objects and, for fleet previews, as the JSON text of the same record", async () => {
    const store = new PostgresRenderStateStore(pool);
    const record: RenderRecord = {
      version: 1, slug: "acme", spec: acmeSpec("free"), lastPhase: 10, phasesApplied: 10,
      resources: [{ urn: "urn:pulumi:acme::matih-tenants::kubernetes:core/v1:Namespace::namespace", type: "kubernetes:core/v1:Namespace", name: "namespace", phase: { number: 1, name: "CREATE_NAMESPACE" }, parent: null, dependsOn: [], custom: true, read: false, provider: null, inputs: { metadata: { name: "tenant-acme" } }, outputs: {} }],
      outputs: { namespace: "tenant-acme" }, faultAttempts: {}, updatedAt: "2026-01-01T00:00:00.000Z",
    };
    await store.put(record);
    expect(await store.get("acme")).toEqual(record);
    expect(JSON.parse((await store.getText("acme"))!)).toEqual(record);
    expect(await store.getText("globex")).toBeUndefined();
    expect(await store.list()).toEqual(["acme"]);
  });
});
