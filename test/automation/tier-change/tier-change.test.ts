/**
 * Tier changes on the render engine with the tenant's data on two real
 * PostgreSQL servers: the "shared" server is this machine's (15), the
 * "dedicated" one a second PostgreSQL 15 started here (second-server.ts:
 * the same major both ways, since enterprise → free dumps it). The render
 * engine renders and records the program as usual; its `databases` option
 * points the two placements at these servers, so the move and verify steps
 * copy and check real rows. Failures are injected on the target for real: a
 * TCP proxy that cuts the restore's connection, a trigger that fails writes
 * as a full disk does (SQLSTATE 53100), one that silently drops a row.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { cuttingProxy } from "../../support/cutting-proxy.ts";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DataDirLayout } from "../../../automation/core/data-dir.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { FaultPlan } from "../../../automation/core/fault-plan.ts";
import type { DatabasePlacement, ProgressEvent } from "../../../automation/core/types.ts";
import type { PostgresEndpoint } from "../../../automation/data-move/index.ts";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import { RenderEngine } from "../../../automation/render/engine.ts";
import { FileRenderStateStore } from "../../../automation/render/store.ts";
import { postgresIdentifier } from "../../../model/spec.ts";
import type { Tier } from "../../../model/tiers.ts";
import { probePostgres } from "../../support/postgres.ts";
import { platformSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";
import { startSecondServer, type SecondServer } from "./second-server.ts";
import { localEndpoint, schemaState, seedTenantSchema, withClient, writable } from "./tenant-database.ts";

const probe = await probePostgres();
const suffix = randomBytes(4).toString("hex");
const SHARED_DB = `matih_tc_shared_${suffix}`;
const DEDICATED_DB = "tenantdb";
const CUSTOMERS = 3000;

const shared: PostgresEndpoint = localEndpoint(SHARED_DB);
let dedicated: PostgresEndpoint;
let second: SecondServer | null = null;
const runner = new ForkedJobRunner();
let dataDir = "";
/** Per test: which endpoint the dedicated placement goes to (a cutting proxy for one test). */
let dedicatedVia: () => PostgresEndpoint = () => dedicated;

function engine(faultPlan?: FaultPlan): RenderEngine {
  const layout = new DataDirLayout(dataDir);
  return new RenderEngine({
    ...(faultPlan ? { faultPlan } : {}),
    layout, store: new FileRenderStateStore(layout.renderStateDir), runner, gate: new OperationGate({ maxConcurrent: 2 }), operationTimeoutMs: 300_000,
    databases: { endpoint: (_slug: string, placement: DatabasePlacement) => (placement === "shared" ? shared : dedicatedVia()) },
  });
}

const settings = platformSettings();

/** A tenant on free with its schema on the shared server, as provisioning and the tenant's applications leave it. */
async function freeTenant(slug: string): Promise<{ schema: string; engine: RenderEngine }> {
  const schema = postgresIdentifier(slug);
  const render = engine();
  const events: ProgressEvent[] = [];
  const provisioned = await render.provision({ spec: tenantSpec({ slug, tier: "free" }), settings, onEvent: (e) => events.push(e) });
  expect(provisioned.status).toBe("succeeded");
  // A first provision has no old target: no tier-change steps.
  expect(subSteps(events)).toEqual([]);
  await seedTenantSchema(shared, schema, { customers: CUSTOMERS, events: 2000 });
  return { schema, engine: render };
}

const subSteps = (events: readonly ProgressEvent[]) => events.flatMap((e) => (e.type === "phase-step" ? [`${e.step}:${e.status}`] : []));
const seqOf = (events: readonly ProgressEvent[], match: (e: ProgressEvent) => boolean) => events.find(match)?.seq ?? -1;

/** The recorded credentials Secret (its values are digests in the record; they change when it is switched). */
async function recordedSecret(render: RenderEngine, slug: string) {
  const layout = new DataDirLayout(dataDir);
  const record = await new FileRenderStateStore(layout.renderStateDir).get(slug);
  const secret = record!.resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.urn.endsWith("::database-credentials"))!;
  void render;
  return { placement: record!.databasePlacement, digests: JSON.stringify(secret.secretDigests) };
}

async function change(render: RenderEngine, slug: string, tier: Tier) {
  const spec = tenantSpec({ slug, tier });
  const preview = await render.preview({ spec, settings, savePlan: true });
  expect(preview.status).toBe("succeeded");
  const events: ProgressEvent[] = [];
  const result = await render.provision({ spec, settings, plan: preview.plan!, onEvent: (e) => events.push(e) });
  return { preview, result, events };
}

describe.skipIf(!probe.available)("tier changes that move the tenant's data between two real PostgreSQL servers", () => {
  beforeAll(async () => {
    second = await startSecondServer();
    dedicated = { host: second.host, port: second.port, database: DEDICATED_DB, user: second.user, password: second.password, sslMode: "disable" };
    await withClient(dedicated, (c) => c.query(`CREATE DATABASE ${DEDICATED_DB}`), "postgres");
    await withClient(shared, (c) => c.query(`CREATE DATABASE ${SHARED_DB}`), "postgres");
  }, 180_000);

  beforeEach(async () => {
    dataDir = await tempDataDir();
    dedicatedVia = () => dedicated;
  });
  afterEach(async () => {
    await withClient(dedicated, (c) => c.query("DROP EVENT TRIGGER IF EXISTS inject_fault"));
    await rm(dataDir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await withClient(shared, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${SHARED_DB} WITH (FORCE)`);
      const { rows } = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [`tenant_tc${suffix}%`]);
      for (const r of rows) await c.query(`DROP ROLE IF EXISTS ${r.rolname}`);
    }, "postgres").catch(() => undefined);
    await second?.stop().catch(() => undefined);
  }, 60_000);

  it("free → professional → enterprise → free keeps every row, and the old target goes only after the workloads rolled", async () => {
    const slug = `tc${suffix}a`;
    const { schema, engine: render } = await freeTenant(slug);
    const original = await schemaState(shared, schema);
    expect(original!.map((t) => t.rows)).toEqual([CUSTOMERS, 2000]);

    // free → professional: same server, a pool of its own. Nothing moves; the Secret switches to the pool.
    const toPro = await change(render, slug, "professional");
    expect(toPro.preview.tierChange).toEqual({ steps: ["expand", "switch"], move: null, data: null });
    expect(toPro.result.status).toBe("succeeded");
    expect(subSteps(toPro.events)).toEqual(["expand:started", "expand:succeeded", "switch:started", "switch:succeeded"]);
    expect(await schemaState(shared, schema)).toEqual(original);

    // professional → enterprise: the data moves to the dedicated server.
    const toEnterprise = await change(render, slug, "enterprise");
    expect(toEnterprise.preview.tierChange?.steps).toEqual(["expand", "move", "verify", "switch", "contract"]);
    expect(toEnterprise.preview.tierChange?.move).toEqual({ from: "shared", to: "dedicated" });
    expect(toEnterprise.preview.tierChange?.data).toMatchObject({ tables: 2, rows: CUSTOMERS + 2000 });
    expect(toEnterprise.preview.tierChange!.data!.bytes).toBeGreaterThan(0);
    expect(toEnterprise.result.status).toBe("succeeded");
    const events = toEnterprise.events;
    expect(subSteps(events)).toEqual([
      "expand:started", "expand:succeeded", "move:started", "move:succeeded", "verify:started", "verify:succeeded",
      "switch:started", "switch:succeeded", "contract:started", "contract:succeeded",
    ]);
    const verified = events.find((e) => e.type === "phase-step" && e.step === "verify" && e.status === "succeeded");
    expect(verified).toMatchObject({ data: { tables: 2, rows: CUSTOMERS + 2000 } });
    // The pool (what professional's workloads connect through) is deleted only after the last phase that rolls
    // workloads onto the new Secret has finished, and after the Secret switched.
    const poolDeleted = seqOf(events, (e) => e.type === "phase-progress" && e.resource.op === "delete" && e.resource.urn.endsWith("::database-pool"));
    const servicesRolled = seqOf(events, (e) => e.type === "phase-succeeded" && e.phase.number === 5);
    const secretSwitched = seqOf(events, (e) => e.type === "phase-progress" && e.resource.urn.endsWith("::database-credentials"));
    const movedAt = seqOf(events, (e) => e.type === "phase-step" && e.step === "verify" && e.status === "succeeded");
    expect(poolDeleted).toBeGreaterThan(servicesRolled);
    expect(servicesRolled).toBeGreaterThan(secretSwitched);
    expect(secretSwitched).toBeGreaterThan(movedAt);
    expect(await schemaState(dedicated, schema)).toEqual(original);
    expect(await schemaState(shared, schema)).toBeNull();
    expect((await recordedSecret(render, slug)).placement).toBe("dedicated");

    // enterprise → free: back to the shared server, the dedicated server's database deleted after the roll.
    const toFree = await change(render, slug, "free");
    expect(toFree.preview.tierChange?.move).toEqual({ from: "dedicated", to: "shared" });
    expect(toFree.result.status).toBe("succeeded");
    expect(subSteps(toFree.events)).toEqual([
      "expand:started", "expand:succeeded", "move:started", "move:succeeded", "verify:started", "verify:succeeded",
      "switch:started", "switch:succeeded", "contract:started", "contract:succeeded",
    ]);
    const serverDeleted = seqOf(toFree.events, (e) => e.type === "phase-progress" && e.resource.op === "delete" && e.resource.urn.endsWith("::database-server"));
    expect(serverDeleted).toBeGreaterThan(seqOf(toFree.events, (e) => e.type === "phase-succeeded" && e.phase.number === 5));
    expect(await schemaState(shared, schema)).toEqual(original);
    expect(await schemaState(dedicated, schema)).toBeNull();
    expect(await writable(shared, schema)).toBe(true);
  }, 600_000);

  /** free → enterprise with `inject` set up first; asserts the old data serving, the Secret not switched, the target clean. */
  async function failedMove(slug: string, inject: () => Promise<void>, failedStep: "move" | "verify", message: string) {
    const { schema, engine: render } = await freeTenant(slug);
    const before = await schemaState(shared, schema);
    const secretBefore = await recordedSecret(render, slug);
    await inject();
    const events: ProgressEvent[] = [];
    const result = await render.provision({ spec: tenantSpec({ slug, tier: "enterprise" }), settings, onEvent: (e) => events.push(e) });
    expect(result.status).toBe("failed");
    expect(result.error?.phase?.number).toBe(2);
    expect(result.error?.message).toContain(message);
    const steps = subSteps(events);
    expect(steps).toContain(`${failedStep}:failed`);
    expect(steps).not.toContain("switch:started");
    expect(steps).not.toContain("contract:started");
    expect(result.phases.find((p) => p.phase.number === 2)?.status).toBe("failed");
    expect(result.phases.some((p) => p.phase.number > 2)).toBe(false);
    // The old database keeps serving: same rows and checksums, writes allowed again, the Secret still pointing at it.
    expect(await schemaState(shared, schema)).toEqual(before);
    expect(await writable(shared, schema)).toBe(true);
    expect(await recordedSecret(render, slug)).toEqual(secretBefore);
    // Nothing half-copied on the target.
    expect(await schemaState(dedicated, schema)).toBeNull();
    return { render, schema, before };
  }

  it("connection cut mid-copy: the move fails, the shared server keeps serving, a retry of the same change completes", async () => {
    // Cuts every connection to the dedicated server once it carried 64 KiB from the client: only the restore's data gets that far.
    const proxy = await cuttingProxy(dedicated, 64 * 1024);
    try {
      const slug = `tc${suffix}b`;
      const { render, schema, before } = await failedMove(slug, async () => { dedicatedVia = () => proxy.endpoint; }, "move", "failed in step copy");
      expect(proxy.cuts()).toBeGreaterThan(0);
      // The same change again, the connection whole: it moves, verifies, switches and contracts.
      dedicatedVia = () => dedicated;
      const retried = await render.provision({ spec: tenantSpec({ slug, tier: "enterprise" }), settings });
      expect(retried.status).toBe("succeeded");
      expect(await schemaState(dedicated, schema)).toEqual(before);
      expect(await schemaState(shared, schema)).toBeNull();
    } finally {
      await proxy.close();
    }
  }, 600_000);

  it("verification mismatch (a row lost on the target): verify fails, the shared server keeps serving", async () => {
    const slug = `tc${suffix}c`;
    const schema = postgresIdentifier(slug);
    await failedMove(slug, () => withClient(dedicated, (c) => c.query(`
      CREATE OR REPLACE FUNCTION public.drop_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 2999 THEN RETURN NULL; END IF; RETURN NEW; END $$;
      CREATE OR REPLACE FUNCTION public.inject_fault() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_identity = '${schema}.customers' LOOP
          EXECUTE format('CREATE TRIGGER drop_row BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.drop_row()', r.object_identity);
        END LOOP;
      END $$;
      CREATE EVENT TRIGGER inject_fault ON ddl_command_end EXECUTE FUNCTION public.inject_fault();`)).then(() => undefined),
    "verify", `table customers: ${CUSTOMERS} rows on the source, ${CUSTOMERS - 1} on the target`);
  }, 600_000);

  it("target full (SQLSTATE 53100 on the target): the move fails, the shared server keeps serving", async () => {
    const slug = `tc${suffix}d`;
    const schema = postgresIdentifier(slug);
    await failedMove(slug, () => withClient(dedicated, (c) => c.query(`
      CREATE OR REPLACE FUNCTION public.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'could not extend file "base/16384/16999": No space left on device'; END $$;
      CREATE OR REPLACE FUNCTION public.inject_fault() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_identity = '${schema}.events' LOOP
          EXECUTE format('CREATE TRIGGER disk_full BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.disk_full()', r.object_identity);
        END LOOP;
      END $$;
      CREATE EVENT TRIGGER inject_fault ON ddl_command_end EXECUTE FUNCTION public.inject_fault();`)).then(() => undefined),
    "move", "No space left on device");
  }, 600_000);

  it("a failure after the switch keeps the old target; the retry only contracts, it does not move again", async () => {
    const slug = `tc${suffix}e`;
    const { schema } = await freeTenant(slug);
    // The change's first attempt fails in phase 5: after the switch, before the contract.
    const render = engine({ 5: { failTimes: 1, message: "release rollout timed out" } });
    const original = await schemaState(shared, schema);
    const events: ProgressEvent[] = [];
    const failed = await render.provision({ spec: tenantSpec({ slug, tier: "enterprise" }), settings, onEvent: (e) => events.push(e) });
    expect(failed.status).toBe("failed");
    expect(failed.error?.phase?.number).toBe(5);
    expect(subSteps(events)).toEqual(["expand:started", "expand:succeeded", "move:started", "move:succeeded", "verify:started", "verify:succeeded", "switch:started", "switch:succeeded"]);
    // Switched: the tenant is on the dedicated server; the old schema is still there, untouched, until contract.
    expect((await recordedSecret(render, slug)).placement).toBe("dedicated");
    expect(await schemaState(dedicated, schema)).toEqual(original);
    expect(await schemaState(shared, schema)).toEqual(original);

    const retryEvents: ProgressEvent[] = [];
    const retried = await render.provision({ spec: tenantSpec({ slug, tier: "enterprise" }), settings, onEvent: (e) => retryEvents.push(e) });
    expect(retried.status).toBe("succeeded");
    expect(subSteps(retryEvents)).toEqual(["contract:started", "contract:succeeded"]);
    expect(await schemaState(shared, schema)).toBeNull();
    expect(await schemaState(dedicated, schema)).toEqual(original);
  }, 600_000);
});
