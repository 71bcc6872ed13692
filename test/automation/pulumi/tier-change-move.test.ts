/**
 * A change of tier on the Pulumi engine that moves the tenant's data between
 * the shared server and a dedicated one (automation/pulumi/tier-move.ts):
 * expand → move → verify → switch → contract. The stack is scripted (Azure
 * is unreachable: the Flexible Server exists only as the expand's outputs);
 * the data is real. The shared server is this machine's PostgreSQL, as the
 * settings name it; the "dedicated server" is a second PostgreSQL started
 * here (test/automation/tier-change/second-server.ts), and the engine learns
 * its admin login from the stack output the expand program exports
 * (`dedicatedDatabaseAdmin`), as it would from Azure. The scripted expand
 * does to the new target what its role resource does: creates the tenant
 * role with its login.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { OutputMap } from "@pulumi/pulumi/automation/index.js";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { assertPlanHoldsAfterExpand, isEgressPolicyUpdate } from "../../../automation/pulumi/tier-move.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import type { OperationOutcome } from "../../../automation/core/operation.ts";
import type { PreviewResult, ProgressEventBody, SavedPlan } from "../../../automation/core/types.ts";
import { planFingerprint } from "../../../automation/core/plans.ts";
import type { PostgresEndpoint } from "../../../automation/data-move/index.ts";
import { PHASES } from "../../../model/phases.ts";
import { postgresIdentifier } from "../../../model/spec.ts";
import type { Tier } from "../../../model/tiers.ts";
import { probePostgres } from "../../support/postgres.ts";
import { childUrn, EventLog, successfulUp } from "../fixtures/engine-events.ts";
import { commandError, FakeWorkspaceFactory, replay, replayThenThrow, type FakeStack, type Script } from "../fixtures/fake-workspace.ts";
import { platformSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";
import { startSecondServer, type SecondServer } from "../tier-change/second-server.ts";
import { localEndpoint, schemaState, seedTenantSchema, withClient, writable } from "../tier-change/tenant-database.ts";

const probe = await probePostgres();
const suffix = randomBytes(4).toString("hex");
const SHARED_DB = `matih_h22_shared_${suffix}`;
const DEDICATED_DB = "tenantdb";
const CUSTOMERS = 3000;
const EVENTS = 2000;

const shared: PostgresEndpoint = localEndpoint(SHARED_DB);
const PASSWORD_ENV = "MATIH_H22_PG_ADMIN_PASSWORD";
const settings = platformSettings({
  postgres: { host: shared.host, port: shared.port, database: SHARED_DB, adminUser: shared.user, adminPasswordEnv: PASSWORD_ENV, sslMode: "disable" },
});
let dedicated: PostgresEndpoint;
let second: SecondServer | null = null;

const SERVER = childUrn(2, "azure-native:dbforpostgresql:Server", "database-server");
const DATABASE = childUrn(2, "azure-native:dbforpostgresql:Database", "database-database");
const ADMIN_PASSWORD = childUrn(2, "random:index/randomPassword:RandomPassword", "database-server-admin-password");
const TARGET_PROVIDER = childUrn(2, "pulumi:providers:postgresql", "database-move-target-postgres");
const TARGET_ROLE = childUrn(2, "postgresql:index/role:Role", "database-move-target-role");
const SECRET = childUrn(2, "kubernetes:core/v1:Secret", "database-credentials");
const QUOTA = childUrn(1, "kubernetes:core/v1:ResourceQuota", "namespace-quota");
const ROLE = childUrn(2, "postgresql:index/role:Role", "database-role");
const CORE_RELEASE = childUrn(3, "kubernetes:helm.sh/v3:Release", "core-services-ai-service");
/** A fixture URN in another tenant's stack. */
const u0 = (slug: string, urn: string) => urn.replace("urn:pulumi:acme::", `urn:pulumi:${slug}::`);

/** The tenant's schema with rows, owned by its role, as provisioning and the applications leave it. */
const seedTenant = (endpoint: PostgresEndpoint, schema: string) => seedTenantSchema(endpoint, schema, { customers: CUSTOMERS, events: EVENTS });

const roleExists = (endpoint: PostgresEndpoint, role: string) =>
  withClient(endpoint, async (c) => (await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rows.length === 1);

/** The expand's preview: only creates, the new target's resources. */
function expandPreview(toDedicated: boolean, extra: (log: EventLog) => EventLog = (l) => l, u: (urn: string) => string = (urn) => urn): Script {
  let log = new EventLog().prelude();
  if (toDedicated) {
    log = log.pre(u(ADMIN_PASSWORD), "random:index/randomPassword:RandomPassword", "create")
      .pre(u(SERVER), "azure-native:dbforpostgresql:Server", "create")
      .pre(u(DATABASE), "azure-native:dbforpostgresql:Database", "create");
  }
  log = log.pre(u(TARGET_PROVIDER), "pulumi:providers:postgresql", "create").pre(u(TARGET_ROLE), "postgresql:index/role:Role", "create");
  return replay(extra(log).events);
}

/**
 * The expand's update as Pulumi would run it: the tenant role created on the
 * new target (the move-target Role resource), and the outputs then holding
 * the dedicated server's admin login as a secret.
 */
function expandUp(stack: FakeStack, target: () => PostgresEndpoint, role: string): Script {
  return async () => {
    await withClient(target(), (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'generated-role-password-${suffix}'`));
    stack.outputValues = {
      ...stack.outputValues,
      dedicatedDatabaseAdmin: { value: { host: dedicated.host, port: dedicated.port, database: DEDICATED_DB, user: dedicated.user, password: dedicated.password, sslMode: "disable" }, secret: true },
    };
    return { stdout: "", stderr: "", outputs: stack.outputValues, summary: { kind: "update", result: "succeeded" } };
  };
}

/** The switch's update: records what the target held when it ran, and leaves the new tier's outputs. */
function switchUp(stack: FakeStack, tier: Tier, seen: { targetAtSwitch?: unknown }, target: () => PostgresEndpoint, schema: string): Script {
  return async (options) => {
    seen.targetAtSwitch = await schemaState(target(), schema);
    const outputs: OutputMap = { tier: { value: tier, secret: false }, slug: { value: stack.name, secret: false } };
    stack.outputValues = outputs;
    return replay(successfulUp(), outputs)(options);
  };
}

const commands = (stack: FakeStack) => stack.calls.map((c) => c.method).filter((m) => m !== "createOrSelectStack" && m !== "selectStack");
const steps = (bodies: readonly ProgressEventBody[]) => bodies.flatMap((b) => (b.type === "phase-step" ? [`${b.step} ${b.status}`] : []));
const upMessages = (stack: FakeStack) => stack.calls.filter((c) => c.method === "up").map((c) => (c.options as { message?: string; plan?: string }));

describe.skipIf(!probe.available)("a change of tier on the Pulumi engine that moves the data between two real PostgreSQL servers", () => {
  let dataDir: string;
  const env = { [PASSWORD_ENV]: shared.password ?? "" };

  beforeAll(async () => {
    second = await startSecondServer();
    dedicated = { host: second.host, port: second.port, database: DEDICATED_DB, user: second.user, password: second.password, sslMode: "disable" };
    await withClient(dedicated, (c) => c.query(`CREATE DATABASE ${DEDICATED_DB}`), "postgres");
    await withClient(shared, (c) => c.query(`CREATE DATABASE ${SHARED_DB}`), "postgres");
  }, 180_000);

  beforeEach(async () => {
    dataDir = await tempDataDir();
  });
  afterEach(async () => {
    await withClient(dedicated, (c) => c.query("DROP EVENT TRIGGER IF EXISTS inject_fault"));
    await rm(dataDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await withClient(shared, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${SHARED_DB} WITH (FORCE)`);
      const { rows } = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [`tenant_h22${suffix}%`]);
      for (const r of rows) await c.query(`DROP ROLE IF EXISTS ${r.rolname}`);
    }, "postgres").catch(() => undefined);
    await second?.stop().catch(() => undefined);
  }, 60_000);

  const job = (operation: "provision" | "preview", slug: string, tier: Tier, plan?: SavedPlan): PulumiJob => ({
    kind: "pulumi",
    operation,
    config: { dataDir, backendUrl: `file://${dataDir}/state`, secretsProvider: "passphrase", lockWaitMs: 0 },
    request: { spec: tenantSpec({ slug, tier }), settings, lastPhase: PHASES.length, ...(plan ? { plan } : {}) },
  });

  async function run(factory: FakeWorkspaceFactory, theJob: PulumiJob) {
    const bodies: ProgressEventBody[] = [];
    const outcome = (await runPulumiWorkerJob(theJob, {
      factory, env, lockPollMs: 2, takeoverMarginMs: 0, signal: new AbortController().signal, emit: (b) => bodies.push(b), log: () => {},
    })) as OperationOutcome<unknown>;
    return { outcome, bodies };
  }

  function stackAppliedAs(factory: FakeWorkspaceFactory, slug: string, tier: Tier): FakeStack {
    const stack = factory.existing(slug);
    stack.outputValues = { tier: { value: tier, secret: false }, slug: { value: slug, secret: false } };
    return stack;
  }

  it("professional → enterprise: expand, move, verify, switch onto the copy, then the tenant leaves the shared server", async () => {
    const slug = `h22${suffix}a`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const original = await schemaState(shared, schema);
    expect(original!.map((t) => t.rows)).toEqual([CUSTOMERS, EVENTS]);

    const factory = new FakeWorkspaceFactory();
    const seen: { targetAtSwitch?: unknown } = {};
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", expandPreview(true));
    stack.script("up", expandUp(stack, () => dedicated, schema), switchUp(stack, "enterprise", seen, () => dedicated, schema));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise"));

    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe("succeeded");
    // Expand's preview and update, its outputs read for the admin login, then the switch; professional → enterprise lowers nothing.
    expect(commands(stack)).toEqual(["outputs", "preview", "up", "outputs", "up"]);
    const [expand, switched] = upMessages(stack);
    expect(expand?.message).toContain("expand of the change professional -> enterprise");
    expect(switched?.message).toContain("provision");
    expect(steps(bodies)).toEqual([
      "expand started", "expand succeeded", "move started", "move succeeded", "verify started", "verify succeeded",
      "switch started", "switch succeeded", "contract started", "contract succeeded",
    ]);
    const verified = bodies.find((b) => b.type === "phase-step" && b.step === "verify" && b.status === "succeeded");
    expect(verified).toMatchObject({ data: { tables: 2, rows: CUSTOMERS + EVENTS } });
    // The switch ran onto a complete, verified copy; after the contract the data is only on the dedicated server.
    expect(seen.targetAtSwitch).toEqual(original);
    expect(await schemaState(dedicated, schema)).toEqual(original);
    expect(await schemaState(shared, schema)).toBeNull();
    expect(await roleExists(shared, schema)).toBe(false);
    expect(await writable(dedicated, schema)).toBe(true);
    // The dedicated server's admin password never reaches an event.
    expect(JSON.stringify(bodies)).not.toContain(dedicated.password!);
  }, 300_000);

  it("enterprise → free: the data comes back from the dedicated server, then the contract lowers the quota and limit", async () => {
    const slug = `h22${suffix}b`;
    const schema = postgresIdentifier(slug);
    await seedTenant(dedicated, schema);
    const original = await schemaState(dedicated, schema);

    const factory = new FakeWorkspaceFactory();
    const seen: { targetAtSwitch?: unknown } = {};
    const stack = stackAppliedAs(factory, slug, "enterprise");
    const contractPreview = replay(new EventLog().prelude()
      .pre(QUOTA, "kubernetes:core/v1:ResourceQuota", "update").pre(ROLE, "postgresql:index/role:Role", "update").events);
    stack.script("preview", expandPreview(false), contractPreview);
    stack.script("up", expandUp(stack, () => shared, schema), switchUp(stack, "free", seen, () => shared, schema), replay([]));
    const { outcome, bodies } = await run(factory, job("provision", slug, "free"));

    expect(outcome.error).toBeNull();
    expect(commands(stack)).toEqual(["outputs", "preview", "up", "outputs", "up", "preview", "up", "outputs"]);
    expect(steps(bodies)).toEqual([
      "expand started", "expand succeeded", "move started", "move succeeded", "verify started", "verify succeeded",
      "switch started", "switch succeeded", "contract started", "contract succeeded",
    ]);
    const contract = bodies.find((b) => b.type === "phase-step" && b.step === "contract" && b.status === "started");
    expect(contract?.type === "phase-step" && contract.message).toContain("the tenant role's connection limit comes down from none to 20");
    expect(seen.targetAtSwitch).toEqual(original);
    expect(await schemaState(shared, schema)).toEqual(original);
    expect(await writable(shared, schema)).toBe(true);
  }, 300_000);

  /** professional → enterprise with `inject` set up on the dedicated server; asserts nothing switched and the old data serving. */
  async function failedMove(slug: string, inject: (schema: string) => Promise<void>, failedStep: "move" | "verify", message: string) {
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const before = await schemaState(shared, schema);
    await inject(schema);
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", expandPreview(true));
    stack.script("up", expandUp(stack, () => dedicated, schema));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise"));
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.phase?.number).toBe(2);
    expect(outcome.error?.message).toContain(`phase 2 ${failedStep} failed`);
    expect(outcome.error?.message).toContain(message);
    expect(outcome.phases.find((p) => p.phase.number === 2)?.status).toBe("failed");
    // The switch's update never ran: the credentials Secret still points at the shared server.
    expect(commands(stack)).toEqual(["outputs", "preview", "up", "outputs"]);
    const s = steps(bodies);
    expect(s).toContain(`${failedStep} failed`);
    expect(s).not.toContain("switch started");
    expect(s).not.toContain("contract started");
    // The old database keeps serving: same rows and checksums, writes allowed again; nothing half-copied on the target.
    expect(await schemaState(shared, schema)).toEqual(before);
    expect(await writable(shared, schema)).toBe(true);
    expect(await schemaState(dedicated, schema)).toBeNull();
    expect(JSON.stringify(bodies)).not.toContain(dedicated.password!);
  }

  it("a full target fails the move: nothing switched, the shared server serves and takes writes again", async () => {
    await failedMove(`h22${suffix}c`, (schema) => withClient(dedicated, (c) => c.query(`
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
  }, 300_000);

  it("a row lost on the target fails verify: nothing switched, the shared server serves and takes writes again", async () => {
    await failedMove(`h22${suffix}d`, (schema) => withClient(dedicated, (c) => c.query(`
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
  }, 300_000);

  /**
   * The reviewed plan of professional → enterprise (the switch's program): the server's resources created, the
   * Secret and the role updated. The previews that check it: before expand (as reviewed), after it (the creates done,
   * expand's own role resources leaving the state, and `afterExpand` for anything else).
   */
  function reviewed(slug: string, afterExpand: (log: EventLog) => EventLog) {
    const u = (urn: string) => u0(slug, urn);
    const content = JSON.stringify({ resourcePlans: {
      [u(ADMIN_PASSWORD)]: { steps: ["create"] }, [u(SERVER)]: { steps: ["create"] }, [u(DATABASE)]: { steps: ["create"] },
      [u(SECRET)]: { steps: ["update"] }, [u(ROLE)]: { steps: ["update"] },
    } });
    const plan: SavedPlan = { id: "20261207120000000-abcd1234", slug, engine: "pulumi", lastPhase: PHASES.length, file: "/nonexistent", createdAt: "2026-12-07T12:00:00Z", content, sha256: planFingerprint(content) };
    const asReviewed = replay(new EventLog().prelude()
      .pre(u(ADMIN_PASSWORD), "random:index/randomPassword:RandomPassword", "create").pre(u(SERVER), "azure-native:dbforpostgresql:Server", "create")
      .pre(u(DATABASE), "azure-native:dbforpostgresql:Database", "create").pre(u(SECRET), "kubernetes:core/v1:Secret", "update")
      .pre(u(ROLE), "postgresql:index/role:Role", "update").events);
    const afterIt = replay(afterExpand(new EventLog().prelude()
      .pre(u(SECRET), "kubernetes:core/v1:Secret", "update").pre(u(ROLE), "postgresql:index/role:Role", "update")
      .pre(u(TARGET_PROVIDER), "pulumi:providers:postgresql", "delete").pre(u(TARGET_ROLE), "postgresql:index/role:Role", "delete")).events);
    return { plan, asReviewed, expand: expandPreview(true, (l) => l, u), afterIt };
  }

  it("with a reviewed plan: held before expand, held after it for what remains, the switch applied without --plan", async () => {
    const slug = `h22${suffix}g`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const original = await schemaState(shared, schema);
    const { plan, asReviewed, expand, afterIt } = reviewed(slug, (l) => l);
    const factory = new FakeWorkspaceFactory();
    const seen: { targetAtSwitch?: unknown } = {};
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", asReviewed, expand, afterIt);
    stack.script("up", expandUp(stack, () => dedicated, schema), switchUp(stack, "enterprise", seen, () => dedicated, schema));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise", plan));
    expect(outcome.error).toBeNull();
    expect(commands(stack)).toEqual(["outputs", "preview", "preview", "up", "outputs", "preview", "up"]);
    // Both checks refresh, as the update does; the switch cannot take --plan (the CLI would refuse the creates now done).
    const previews = stack.calls.filter((c) => c.method === "preview").map((c) => c.options as { refresh?: boolean; message?: string });
    expect(previews.map((p) => p.refresh === true)).toEqual([true, false, true]);
    expect(upMessages(stack)[1]?.plan).toBeUndefined();
    expect(steps(bodies)).toContain("verify succeeded");
    expect(seen.targetAtSwitch).toEqual(original);
  }, 300_000);

  it("a reviewed plan that no longer holds after expand stops the change before anything is frozen or copied", async () => {
    const slug = `h22${suffix}h`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const before = await schemaState(shared, schema);
    const { plan, asReviewed, expand, afterIt } = reviewed(slug, (l) => l.pre(u0(slug, CORE_RELEASE), "kubernetes:helm.sh/v3:Release", "update"));
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", asReviewed, expand, afterIt);
    stack.script("up", expandUp(stack, () => dedicated, schema));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise", plan));
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.code).toBe("plan_mismatch");
    expect(outcome.error?.message).toContain(`${u0(slug, CORE_RELEASE)}: reviewed no change, now update`);
    expect(commands(stack)).toEqual(["outputs", "preview", "preview", "up", "outputs", "preview"]);
    expect(steps(bodies)).toEqual(["expand started", "expand succeeded"]);
    expect(await schemaState(shared, schema)).toEqual(before);
    expect(await writable(shared, schema)).toBe(true);
    expect(await schemaState(dedicated, schema)).toBeNull();
  }, 300_000);

  it("a switch that failed part-way: the retry does not move again, it switches onto the copy and keeps what was written there", async () => {
    const slug = `h22${suffix}i`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const original = await schemaState(shared, schema);
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", expandPreview(true));
    stack.script("up", expandUp(stack, () => dedicated, schema), replayThenThrow([], commandError("code: 255\n stderr: error: update failed: release core-services-ai-service timed out\n")));
    const first = await run(factory, job("provision", slug, "enterprise"));
    expect(first.outcome.status).toBe("failed");
    expect(steps(first.bodies).slice(-2)).toEqual(["switch started", "switch failed"]);
    // The verified copy is on the dedicated server; the shared server keeps the data, its writes stopped (the Secret may point either way).
    expect(await schemaState(dedicated, schema)).toEqual(original);
    expect(await schemaState(shared, schema)).toEqual(original);
    expect(await writable(shared, schema)).toBe(false);
    // The workloads that did roll write on the dedicated server meanwhile.
    await withClient(dedicated, (c) => c.query(`INSERT INTO ${schema}.customers (name, created_at) VALUES ('written after the switch', now())`));
    const afterWrite = await schemaState(dedicated, schema);

    const seen: { targetAtSwitch?: unknown } = {};
    stack.script("up", switchUp(stack, "enterprise", seen, () => dedicated, schema));
    const calls = commands(stack).length;
    const retried = await run(factory, job("provision", slug, "enterprise"));
    expect(retried.outcome.error).toBeNull();
    expect(commands(stack).slice(calls)).toEqual(["outputs", "up"]);
    expect(steps(retried.bodies)).toEqual([
      "expand skipped", "move skipped", "verify skipped", "switch started", "switch succeeded", "contract started", "contract succeeded",
    ]);
    // Not copied again: the row written on the dedicated server is still there, and the shared server is left.
    expect(await schemaState(dedicated, schema)).toEqual(afterWrite);
    expect(afterWrite!.find((t) => t.table === "customers")!.rows).toBe(CUSTOMERS + 1);
    expect(await schemaState(shared, schema)).toBeNull();
  }, 300_000);

  it("an expand whose update fails fails phase 2 with the CLI's error line; nothing is frozen or switched", async () => {
    const slug = `h22${suffix}j`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, slug, "professional");
    stack.script("preview", expandPreview(true));
    stack.script("up", replayThenThrow([], commandError(`code: 255\n stdout: Updating (acme)\n\nDiagnostics:\n  azure-native:dbforpostgresql:Server (database-server):\n    error: creating server: Code="ServerNameAlreadyExists" Message="Specified server name is already used."\n\n stderr: \n`)));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise"));
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.message).toBe('phase 2 expand failed: creating server: Code="ServerNameAlreadyExists" Message="Specified server name is already used."');
    expect(outcome.phases.find((p) => p.phase.number === 2)?.status).toBe("failed");
    expect(commands(stack)).toEqual(["outputs", "preview", "up"]);
    expect(steps(bodies)).toEqual(["expand started", "expand failed"]);
    expect(await writable(shared, schema)).toBe(true);
  }, 120_000);

  it("an expand that would do more than create is refused before anything is applied or frozen", async () => {
    const slug = `h22${suffix}e`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, slug, "professional");
    // The Secret already differs from professional's: the stack is not where the old tier left it.
    stack.script("preview", expandPreview(true, (log) => log.pre(SECRET, "kubernetes:core/v1:Secret", "update")));
    const { outcome, bodies } = await run(factory, job("provision", slug, "enterprise"));
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.message).toContain(`phase 2 expand failed: the expand would also update ${SECRET}`);
    expect(commands(stack)).toEqual(["outputs", "preview"]);
    expect(steps(bodies)).toEqual(["expand started", "expand failed"]);
    expect(await writable(shared, schema)).toBe(true);
    expect(await schemaState(dedicated, schema)).toBeNull();
  }, 120_000);

  it("the preview lists the five steps and measures what would move on the shared server", async () => {
    const slug = `h22${suffix}f`;
    const schema = postgresIdentifier(slug);
    await seedTenant(shared, schema);
    const factory = new FakeWorkspaceFactory();
    stackAppliedAs(factory, slug, "professional").script("preview", replay([]));
    const { outcome } = await run(factory, job("preview", slug, "enterprise"));
    const result = outcome as OperationOutcome<Pick<PreviewResult, "tierChange">>;
    expect(result.status).toBe("succeeded");
    expect(result.extras.tierChange?.steps).toEqual(["expand", "move", "verify", "switch", "contract"]);
    expect(result.extras.tierChange?.move).toEqual({ from: "shared", to: "dedicated" });
    expect(result.extras.tierChange?.data).toMatchObject({ tables: 2, rows: CUSTOMERS + EVENTS });
    expect(result.extras.tierChange!.data!.bytes).toBeGreaterThan(0);
  }, 120_000);
});

describe("the switch's plan check after expand", () => {
  const planned = new Map([[SERVER, "create"], [DATABASE, "create"], [SECRET, "update"], [ROLE, "update"]] as const);
  const expanded = new Set([SERVER, DATABASE, TARGET_PROVIDER, TARGET_ROLE]);

  it("holds when only expand's creates are done and its own role resources leave the state", () => {
    const now = new Map([[SECRET, "update"], [ROLE, "update"], [TARGET_PROVIDER, "delete"], [TARGET_ROLE, "delete"]] as const);
    expect(() => assertPlanHoldsAfterExpand(planned, now, expanded)).not.toThrow();
  });

  it("refuses any other difference, naming it", () => {
    const now = new Map([[SECRET, "update"], [ROLE, "replace"], [TARGET_PROVIDER, "delete"], [TARGET_ROLE, "delete"]] as const);
    expect(() => assertPlanHoldsAfterExpand(planned, now, expanded)).toThrow(`${ROLE}: reviewed update, now replace`);
    // A server expand created that the stack no longer holds (deleted out of band since) is not what was reviewed either.
    const missing = new Map([[SERVER, "create"], [SECRET, "update"], [ROLE, "update"]] as const);
    expect(() => assertPlanHoldsAfterExpand(planned, missing, new Set([SERVER, DATABASE]))).toThrow(`${SERVER}: reviewed no change, now create`);
  });

  it("holds when expand already widened phase 4's egress as the switch would, and refuses that change when expand did not make it", () => {
    const POLICY = childUrn(4, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "networking-allow-egress-database");
    const CHECK = childUrn(4, "kubernetes:batch/v1:Job", "networking-database-check");
    const withEgress = new Map([...planned, [POLICY, "update"], [CHECK, "replace"]] as const);
    const now = new Map([[SECRET, "update"], [ROLE, "update"], [TARGET_PROVIDER, "delete"], [TARGET_ROLE, "delete"]] as const);
    expect(() => assertPlanHoldsAfterExpand(withEgress, now, new Set([...expanded, POLICY, CHECK]))).not.toThrow();
    expect(() => assertPlanHoldsAfterExpand(withEgress, now, expanded)).toThrow(`${POLICY}: reviewed update, now no change`);
  });

  it("lets expand and contract touch only phase 4's policies (updated) and its check Job (run again), nothing else there", () => {
    expect(isEgressPolicyUpdate(childUrn(4, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "networking-allow-egress-database"), "update")).toBe(true);
    expect(isEgressPolicyUpdate(childUrn(4, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "networking-allow-egress-database"), "delete")).toBe(false);
    expect(isEgressPolicyUpdate(childUrn(4, "kubernetes:batch/v1:Job", "networking-database-check"), "replace")).toBe(true);
    expect(isEgressPolicyUpdate(childUrn(5, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "data-services-policy"), "update")).toBe(false);
    expect(isEgressPolicyUpdate(childUrn(4, "kubernetes:core/v1:ConfigMap", "networking-x"), "update")).toBe(false);
  });
});
