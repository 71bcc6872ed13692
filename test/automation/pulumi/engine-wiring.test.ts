import { access, chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { DestroyOptions, LocalWorkspaceOptions, PreviewOptions, RefreshOptions, UpOptions } from "@pulumi/pulumi/automation/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig, type EngineConfigOverrides } from "../../../automation/core/config.ts";
import { CliMissingError, ConfigurationError, HTTP_STATUS_BY_CODE, OperationTimeoutError, StackNotFoundError } from "../../../automation/core/errors.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import { MINIMUM_PULUMI_CLI_VERSION } from "../../../automation/pulumi/cli.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { PROVIDER_PACKAGES } from "../../../automation/pulumi/plugins.ts";
import type { ProgressEvent } from "../../../automation/core/types.ts";
import { PHASE_COUNT, phaseByNumber } from "../../../model/phases.ts";
import {
  childrenOf,
  componentUrn,
  EventLog,
  phase6Failure,
  previewAfterTierChange,
  refreshWithDrift,
  successfulUp,
  upToPhase4Start,
  cancellationTail,
  NO_IP_MESSAGE,
  phase6ProgramError,
  upAfterOutOfBandDeletion,
} from "../fixtures/engine-events.ts";
import { commandError, FakeWorkspaceFactory, lockConflict, replay, replayThenThrow, replayUntilAborted, type Call } from "../fixtures/fake-workspace.ts";
import { InProcessRunner } from "../helpers/in-process-runner.ts";
import { platformSettings, realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const PASSPHRASE = "correct horse battery staple";
const PG_PASSWORD = "pg-admin-s3cret-value";
const ENV = { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, MATIH_PG_ADMIN_PASSWORD: PG_PASSWORD };
const silent = { info() {}, warn() {}, error() {} };
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function startEngine(factory: FakeWorkspaceFactory, options: { env?: Record<string, string>; config?: EngineConfigOverrides; detectCli?: typeof cliFound } = {}) {
  const env = { ...ENV, ...options.env };
  const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0, ...options.config });
  const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env, lockPollMs: 2, takeoverMarginMs: 50 }));
  const engine = await PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 2 }), env, logger: silent, detectCli: options.detectCli ?? cliFound });
  return { engine, runner };
}

/** The plan `--save-plan` writes for a preview with these events: each resource's steps (apitype.DeploymentPlanV1). */
function planOf(events: ReturnType<typeof previewAfterTierChange>): string {
  const steps = events.flatMap((e) => (e.resourcePreEvent ? [[e.resourcePreEvent.metadata.urn, { steps: [e.resourcePreEvent.metadata.op] }] as const] : []));
  return JSON.stringify({ resourcePlans: Object.fromEntries(steps) });
}

function optionsOf(call: Call | undefined): LocalWorkspaceOptions {
  if (!call) throw new Error("expected a call");
  return call.options as LocalWorkspaceOptions;
}

function commandOptions<T>(factory: FakeWorkspaceFactory, method: string): T {
  const call = factory.callsTo(method)[0];
  if (!call) throw new Error(`${method} was not called`);
  return call.options as T;
}

describe("Pulumi engine start-up", () => {
  it("keeps the data directory, Pulumi home, workspaces and local state to this user (0700), also ones an earlier version left open", async () => {
    await chmod(dataDir, 0o755);
    await mkdir(path.join(dataDir, "pulumi-home"), { mode: 0o755 });
    await chmod(path.join(dataDir, "pulumi-home"), 0o755);
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    factory.existing("acme").script("up", replay(successfulUp()));
    await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    for (const dir of ["", "pulumi-home", "workspaces", "state", "workspaces/acme", "workspaces/_plugins"]) {
      expect((await stat(path.join(dataDir, dir))).mode & 0o777, dir || "the data directory").toBe(0o700);
    }
  });

  it("installs each provider plugin once, at the version of its installed npm package, one after another", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const require = createRequire(import.meta.url);
    const expected = PROVIDER_PACKAGES.map((pkg) => {
      const manifest = JSON.parse(require("node:fs").readFileSync(require.resolve(`${pkg}/package.json`), "utf8"));
      return { name: manifest.pulumi.name, version: `v${manifest.version}`, kind: "resource" };
    });
    expect(factory.pluginInstalls).toEqual(expected);
    expect(optionsOf(factory.callsTo("createWorkspace")[0])).toMatchObject({ workDir: path.join(dataDir, "workspaces", "_plugins"), pulumiHome: path.join(dataDir, "pulumi-home") });

    factory.existing("acme").script("up", replay(successfulUp()), replay(successfulUp()));
    await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    expect(factory.pluginInstalls).toHaveLength(expected.length);
  });

  it("with a plugin folder, installs each plugin whose binary is there from that file, downloads none, and warns of the others", async () => {
    const pluginDir = path.join(dataDir, "plugin-binaries");
    await mkdir(pluginDir);
    for (const name of ["kubernetes", "random"]) await writeFile(path.join(pluginDir, `pulumi-resource-${name}`), "#!/bin/sh\n", { mode: 0o755 });
    // Not executable: not a plugin binary.
    await writeFile(path.join(pluginDir, "pulumi-resource-postgresql"), "", { mode: 0o644 });
    const factory = new FakeWorkspaceFactory();
    const warnings: string[] = [];
    const env = { ...ENV, MATIH_PULUMI_PLUGIN_DIR: pluginDir };
    const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0 });
    const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env }));
    await PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 1 }), env, logger: { ...silent, warn: (m: string) => warnings.push(m) }, detectCli: cliFound });

    const require = createRequire(import.meta.url);
    const versionOf = (pkg: string) => `v${JSON.parse(require("node:fs").readFileSync(require.resolve(`${pkg}/package.json`), "utf8")).version}`;
    expect(factory.pluginInstalls).toEqual([
      { name: "kubernetes", version: versionOf("@pulumi/kubernetes"), file: path.join(pluginDir, "pulumi-resource-kubernetes"), kind: "resource" },
      { name: "random", version: versionOf("@pulumi/random"), file: path.join(pluginDir, "pulumi-resource-random"), kind: "resource" },
    ]);
    expect(warnings).toEqual([
      expect.stringMatching(/^plugin azure-native \S+ is not in MATIH_PULUMI_PLUGIN_DIR .* runs that need it fail$/),
      expect.stringMatching(/^plugin postgresql \S+ is not in MATIH_PULUMI_PLUGIN_DIR .* runs that need it fail$/),
    ]);
  });

  it("fails with a clear message when neither a secrets provider nor a passphrase is configured", async () => {
    const factory = new FakeWorkspaceFactory();
    const config = loadEngineConfig({ MATIH_DATA_DIR: dataDir });
    const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env: {} }));
    const starting = PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 1 }), env: {}, detectCli: cliFound });
    await expect(starting).rejects.toBeInstanceOf(ConfigurationError);
    await expect(starting).rejects.toThrow(/MATIH_SECRETS_PROVIDER.*PULUMI_CONFIG_PASSPHRASE/s);
    expect(factory.pluginInstalls).toEqual([]);
  });

  it("fails naming the CLI version it needs and the offline alternative when the CLI is missing", async () => {
    const starting = startEngine(new FakeWorkspaceFactory(), { detectCli: async () => ({ ok: false, error: new CliMissingError(MINIMUM_PULUMI_CLI_VERSION) }) as never });
    await expect(starting).rejects.toBeInstanceOf(CliMissingError);
    await expect(starting).rejects.toThrow(new RegExp(`${MINIMUM_PULUMI_CLI_VERSION.replaceAll(".", "\\.")}.*MATIH_ENGINE=render`, "s"));
  });
});

describe("Pulumi engine operations", () => {
  it("provisions the tenant's own stack, named after the slug, in project matih-tenants, with the configured backend and secrets provider", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replay(successfulUp()));
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });

    expect(result.status).toBe("succeeded");
    const call = factory.callsTo("createOrSelectStack")[0]!;
    expect(call.args).toMatchObject({ stackName: "acme", projectName: "matih-tenants" });
    expect(typeof (call.args as { program: unknown }).program).toBe("function");
    const options = optionsOf(call);
    expect(options).toMatchObject({
      workDir: path.join(dataDir, "workspaces", "acme"),
      pulumiHome: path.join(dataDir, "pulumi-home"),
      secretsProvider: "passphrase",
      projectSettings: { name: "matih-tenants", runtime: "nodejs", backend: { url: `file://${path.join(dataDir, "state")}` } },
      envVars: { PULUMI_BACKEND_URL: `file://${path.join(dataDir, "state")}`, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" },
    });
    // The CLI inherits secrets from the environment; they are never copied into options.
    expect(JSON.stringify(options)).not.toContain(PASSPHRASE);
    expect(JSON.stringify(options)).not.toContain(PG_PASSWORD);
    expect(options.workDir!.startsWith(dataDir)).toBe(true);
  });

  it("uses PULUMI_BACKEND_URL and a key-vault secrets provider when they are configured", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replay(successfulUp()));
    const { engine } = await startEngine(factory, {
      env: { PULUMI_BACKEND_URL: "azblob://matih-state", MATIH_SECRETS_PROVIDER: "azurekeyvault://matih-kv.vault.azure.net/keys/pulumi" },
    });
    await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    const options = optionsOf(factory.callsTo("createOrSelectStack")[0]);
    expect(options.secretsProvider).toBe("azurekeyvault://matih-kv.vault.azure.net/keys/pulumi");
    expect(options.projectSettings?.backend?.url).toBe("azblob://matih-state");
    expect(options.envVars?.PULUMI_BACKEND_URL).toBe("azblob://matih-state");
  });

  it("passes onEvent and the signal to up, declares only the requested phases, and returns outputs with secrets redacted", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replay(successfulUp(), { namespace: { value: "matih-acme", secret: false }, databaseUrl: { value: "postgres://u:p@h/db", secret: true } }));
    const { engine, runner } = await startEngine(factory);
    const events: ProgressEvent[] = [];
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 4, onEvent: (e) => events.push(e) });

    const up = commandOptions<UpOptions>(factory, "up");
    expect(typeof up.onEvent).toBe("function");
    expect(up.signal).toBeInstanceOf(AbortSignal);
    expect(up.plan).toBeUndefined();
    expect(up.color).toBe("never");
    expect((runner.jobs.at(-1) as PulumiJob).request?.lastPhase).toBe(4);
    expect(result.outputs).toEqual({ namespace: "matih-acme", databaseUrl: "[secret]" });
    expect(result.lastPhase).toBe(4);
    expect(events[0]).toMatchObject({ type: "operation-started", engine: "pulumi", operation: "provision", slug: "acme", seq: 0 });
    expect(events.at(-1)).toMatchObject({ type: "operation-finished", status: "succeeded" });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
  });

  it("refuses to run the program with settings that would fall back to the host's kube context or placeholder subscription", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: platformSettings() });
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("configuration_error");
    expect(result.error?.message).toMatch(/kubernetes\.context/);
    expect(result.error?.message).toMatch(/subscriptionId/);
    expect(factory.callsTo("createOrSelectStack")).toEqual([]);
  });

  it("previews per-resource operations with changed property paths, saves a plan, and holds a later provision to it", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme")
      .script("preview", async (options) => {
        // The CLI writes the plan to the path it is given with --save-plan.
        await writeFile((options as PreviewOptions).plan!, planOf(previewAfterTierChange()));
        return replay(previewAfterTierChange())(options);
      }, replay(previewAfterTierChange()))
      .script("up", replay(successfulUp()));
    const { engine } = await startEngine(factory);

    const preview = await engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), savePlan: true });
    expect(preview.status).toBe("succeeded");
    const planPath = commandOptions<PreviewOptions>(factory, "preview").plan;
    expect(preview.plan).toMatchObject({ slug: "acme", engine: "pulumi", lastPhase: PHASE_COUNT, file: planPath });
    expect(path.dirname(planPath!)).toBe(path.join(dataDir, "plans", "acme"));
    const [namespace, , quota] = childrenOf(1);
    const migrations = childrenOf(2)[2]!;
    const byUrn = new Map(preview.changes.map((c) => [c.urn, c]));
    expect(byUrn.get(quota!.urn)).toMatchObject({ op: "update", changedPaths: ["spec.hard.pods", 'spec.hard["limits.cpu"]'], phase: { number: 1 } });
    // Each changed path with its value before and after, read from the step's old and new inputs.
    expect(byUrn.get(quota!.urn)!.diffs).toEqual([{ path: "spec.hard.pods", old: "20", new: "50" }, { path: 'spec.hard["limits.cpu"]', old: "4", new: "16" }]);
    expect(byUrn.get(namespace!.urn)).toMatchObject({ op: "update", changedPaths: ['metadata.labels["matih.ai/tier"]'] });
    expect(byUrn.get(migrations.urn)).toMatchObject({ op: "replace", replaceReasons: ["spec"] });
    expect(preview.changeSummary).toMatchObject({ create: 0, update: 2, replace: 1, delete: 0 });

    const provisioned = await engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: preview.plan! });
    expect(provisioned.status).toBe("succeeded");
    // A refreshed preview saw the reviewed steps again before the update started.
    const check = factory.callsTo("preview")[1]?.options as PreviewOptions | undefined;
    expect(check).toMatchObject({ refresh: true });
    expect(check?.plan).toBeUndefined();
    expect(commandOptions<UpOptions>(factory, "up").plan).toBe(planPath);
  });

  it("refuses a reviewed plan that no longer holds before the update starts, naming each resource whose step changed", async () => {
    const factory = new FakeWorkspaceFactory();
    const [, , quota] = childrenOf(1);
    factory.existing("acme")
      .script("preview", async (options) => {
        await writeFile((options as PreviewOptions).plan!, planOf(previewAfterTierChange()));
        return replay(previewAfterTierChange())(options);
      }, replay(previewAfterTierChange().map((e) => (e.resourcePreEvent?.metadata.urn === quota!.urn ? { ...e, resourcePreEvent: { metadata: { ...e.resourcePreEvent.metadata, op: "create" } } } : e) as never)))
      .script("up", replay(successfulUp()));
    const { engine } = await startEngine(factory);
    const preview = await engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), savePlan: true });
    const result = await engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: preview.plan! });
    expect(result.error?.code).toBe("plan_mismatch");
    expect(result.error?.message).toContain(`${quota!.urn}: reviewed update, now create`);
    expect(result.error?.message).toContain("nothing was applied");
    expect(factory.callsTo("up")).toEqual([]);
  });

  it("re-applies a partly applied plan in resume mode with up on the same spec and no --plan, after checking the plan is this tenant's", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme")
      .script("preview", async (options) => {
        await writeFile((options as PreviewOptions).plan!, "{}");
        return replay(previewAfterTierChange())(options);
      })
      .script("up", replay(successfulUp()));
    const { engine } = await startEngine(factory);
    const preview = await engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), savePlan: true });
    const resumed = await engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: preview.plan!, planMode: "resume" });
    expect(resumed.status).toBe("succeeded");
    const up = commandOptions<UpOptions>(factory, "up");
    expect(up.plan).toBeUndefined();
    expect(up.message).toMatch(/provision acme/);

    // Resume mode still refuses a plan it cannot have: one saved before plans carried their contents, whose file is gone.
    await rm(preview.plan!.file);
    const { content: _content, sha256: _sha256, ...withoutContents } = preview.plan!;
    const gone = await engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: withoutContents, planMode: "resume" });
    expect(gone.error?.code).toBe("plan_mismatch");
    expect(factory.callsTo("up")).toHaveLength(1);
  });

  it("refuses a plan made for another tenant before anything runs", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const plan = { id: "20260212-abcd", slug: "acme", engine: "pulumi" as const, lastPhase: 10, file: "/etc/passwd", createdAt: "2026-02-12T10:00:00Z" };
    const result = await engine.provision({ spec: tenantSpec({ slug: "globex" }), settings: realRunSettings(), plan });
    expect(result.error?.code).toBe("invalid_request");
    expect(factory.callsTo("up")).toEqual([]);
  });

  it("reports plan_mismatch when the update strays from the reviewed plan", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme")
      .script("preview", async (options) => {
        await writeFile((options as PreviewOptions).plan!, "{}");
        return replay([])(options);
      }, replay([]))
      .script("up", replayThenThrow([], commandError(`code: 255\n stderr: error: resource ${childrenOf(1)[2]!.urn} violates plan: properties changed: ~~spec\n`)));
    const { engine } = await startEngine(factory);
    const preview = await engine.preview({ spec: tenantSpec(), settings: realRunSettings(), savePlan: true });
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), plan: preview.plan! });
    expect(result.error?.code).toBe("plan_mismatch");
    expect(HTTP_STATUS_BY_CODE.plan_mismatch).toBe(409);
  });

  it("tears down by destroying first, then removing the stack, then the tenant's work directory", async () => {
    const factory = new FakeWorkspaceFactory();
    const destroyEvents = new EventLog();
    for (const n of [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]) {
      for (const child of childrenOf(n).reverse()) destroyEvents.pre(child.urn, child.type, "delete").outputs(child.urn, child.type, "delete");
      destroyEvents.pre(componentUrn(n), phaseByNumber(n).typeToken, "delete");
    }
    factory.existing("acme").script("destroy", replay(destroyEvents.events));
    const { engine } = await startEngine(factory);
    const events: ProgressEvent[] = [];
    const result = await engine.teardown({ spec: tenantSpec(), settings: realRunSettings(), onEvent: (e) => events.push(e) });

    expect(result).toMatchObject({ status: "succeeded", stackRemoved: true, alreadyAbsent: false });
    expect(factory.calls.map((c) => c.method).filter((m) => m === "destroy" || m === "removeStack")).toEqual(["destroy", "removeStack"]);
    expect(factory.callsTo("removeStack")[0]?.args).toBe("acme");
    const destroy = commandOptions<DestroyOptions>(factory, "destroy");
    expect(typeof destroy.onEvent).toBe("function");
    expect(destroy.signal).toBeInstanceOf(AbortSignal);
    expect(destroy.previewOnly).toBeUndefined();
    // Providers configured by the program as it is now, not from the credentials in old state.
    expect(destroy.runProgram).toBe(true);
    expect(factory.callsTo("selectStack")).toHaveLength(1); // teardown never creates a stack it would then destroy
    await expect(access(path.join(dataDir, "workspaces", "acme"))).rejects.toThrow();
    const removed = events.filter((e) => e.type === "phase-succeeded").map((e) => e.type === "phase-succeeded" && [e.phase.number, e.action]);
    expect(removed).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1].map((n) => [n, "remove"]));
  });

  it("treats teardown of a tenant that has no stack as already done, so a retried job succeeds", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const result = await engine.teardown({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result).toMatchObject({ status: "succeeded", stackRemoved: false, alreadyAbsent: true });
    expect(factory.callsTo("destroy")).toEqual([]);
  });

  it("checks drift with previewRefresh (not the deprecated refresh previewOnly) and reports each drifted resource and property, with recorded and actual values, without writing state", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("previewRefresh", replay(refreshWithDrift()));
    const { engine } = await startEngine(factory);
    const result = await engine.driftCheck({ spec: tenantSpec(), settings: realRunSettings() });

    const options = commandOptions<RefreshOptions>(factory, "previewRefresh");
    expect(options.previewOnly).toBeUndefined();
    // Read with the program's providers: a rotated password or kubeconfig must not fail every check.
    expect(options.runProgram).toBe(true);
    expect(typeof options.onEvent).toBe("function");
    expect(factory.callsTo("refresh")).toEqual([]);
    expect(factory.calls.map((c) => c.method).filter((m) => ["up", "destroy", "removeStack"].includes(m))).toEqual([]);
    const [, , quota] = childrenOf(1);
    const [zone] = childrenOf(7);
    expect(result.drifted).toEqual([
      { urn: quota!.urn, type: quota!.type, phase: { number: 1, name: "CREATE_NAMESPACE" }, drift: "changed", properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: "20", actual: "40" }] },
      { urn: zone!.urn, type: zone!.type, phase: { number: 7, name: "CREATE_DNS_ZONE" }, drift: "gone", properties: [], differences: [] },
    ]);
    expect(result.changeSummary).toMatchObject({ update: 1, delete: 1 });
  });

  it("reports stack_not_found for drift on a tenant that was never provisioned, and outputs() rejects with StackNotFoundError", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const result = await engine.driftCheck({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result.error?.code).toBe("stack_not_found");
    expect(HTTP_STATUS_BY_CODE.stack_not_found).toBe(404);
    await expect(engine.outputs("acme")).rejects.toBeInstanceOf(StackNotFoundError);
    await expect(access(path.join(dataDir, "workspaces", "acme"))).rejects.toThrow();
  });

  it("cancels a running provision through the caller's signal and through cancel(slug)", async () => {
    for (const how of ["signal", "cancel"] as const) {
      const factory = new FakeWorkspaceFactory();
      factory.existing("acme").script("up", replayUntilAborted(upToPhase4Start(), cancellationTail()));
      const { engine } = await startEngine(factory);
      const controller = new AbortController();
      const result = await engine.provision({
        spec: tenantSpec(),
        settings: realRunSettings(),
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === "phase-started" && e.phase.number === 4) {
            if (how === "signal") controller.abort();
            else expect(engine.cancel("acme")).toBe(true);
          }
        },
      });
      expect(result.status).toBe("cancelled");
      expect(result.error?.code).toBe("operation_cancelled");
      expect(result.phases.at(-1)).toMatchObject({ phase: { number: 4 }, status: "cancelled" });
      expect(commandOptions<UpOptions>(factory, "up").signal?.aborted).toBe(true);
    }
  });

  it("stops a run that exceeds its time limit and reports operation_timeout", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replayUntilAborted(upToPhase4Start(), cancellationTail()));
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), timeoutMs: 50 });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "operation_timeout", retryable: true });
    expect(result.phases.at(-1)).toMatchObject({ phase: { number: 4 }, status: "cancelled" });
  });

  it("waits for a live run's lock up to the limit, then reports stack_locked without cancelling it", async () => {
    const factory = new FakeWorkspaceFactory();
    const conflicts = Array.from({ length: 50 }, () => replayThenThrow([], lockConflict()));
    factory.existing("acme").script("up", ...conflicts);
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lockWaitMs: 20 });
    expect(result.error?.code).toBe("stack_locked");
    expect(HTTP_STATUS_BY_CODE.stack_locked).toBe(409);
    expect(factory.callsTo("up").length).toBeGreaterThan(1);
    expect(factory.callsTo("cancel")).toEqual([]);
  });

  it("on a takeover, waits the dead run's worker grace and a margin for a lock whose owner it cannot see dead, then reports stack_locked without cancelling it", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replay(successfulUp()));
    stack.lockHeld = true;
    const { engine } = await startEngine(factory, { config: { cancelGraceMs: 300 } });
    const started = Date.now();
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
    // A heartbeat lapses for live runs too (a database failover): their lock looks the same, and cancelling it would let two updates run.
    expect(result.error?.code).toBe("stack_locked");
    expect(Date.now() - started).toBeGreaterThanOrEqual(300 + 50 - 20);
    expect(factory.callsTo("up").length).toBeGreaterThan(1);
    expect(factory.callsTo("cancel")).toEqual([]);
    expect(stack.lockHeld).toBe(true);
  });

  it("does not cancel the lock when the dead run's CLI releases it within the grace", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replay(successfulUp()));
    stack.lockHeld = true;
    setTimeout(() => (stack.lockHeld = false), 100); // the orphan's CLI stopped cleanly on SIGINT and unlocked
    const { engine } = await startEngine(factory, { config: { cancelGraceMs: 2_000 } });
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
    expect(result.status).toBe("succeeded");
    expect(factory.callsTo("cancel")).toEqual([]);
  });

  it("maps a CLI that vanished after start-up to cli_missing", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.createOrSelectStack = async () => {
      throw commandError("code: -2\n stdout: \n stderr: spawn pulumi ENOENT\n err?: Error: spawn pulumi ENOENT\n");
    };
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result.error?.code).toBe("cli_missing");
    expect(result.error?.message).toContain(MINIMUM_PULUMI_CLI_VERSION);
  });

  it("keeps secret values out of events, failure messages and results", async () => {
    const factory = new FakeWorkspaceFactory();
    const leaky = phase6Failure().map((e) =>
      e.diagnosticEvent?.urn === childrenOf(6)[1]!.urn ? { ...e, diagnosticEvent: { ...e.diagnosticEvent, message: `connect as matih_admin:${PG_PASSWORD} failed` } } : e,
    );
    factory.existing("acme").script("up", replayThenThrow(leaky, commandError(`code: 255\n stderr: error: passphrase ${PASSPHRASE} rejected by nothing in particular\n`)));
    const { engine } = await startEngine(factory);
    const events: ProgressEvent[] = [];
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), onEvent: (e) => events.push(e) });
    const everything = JSON.stringify({ result, events });
    expect(result.status).toBe("failed");
    expect(everything).not.toContain(PG_PASSWORD);
    expect(everything).not.toContain(PASSPHRASE);
    expect(everything).toContain("matih_admin:[secret]");
  });

  it("reads outputs of an existing stack with secrets redacted", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").outputValues = { namespace: { value: "matih-acme", secret: false }, adminPassword: { value: "hunter22", secret: true } };
    const { engine } = await startEngine(factory);
    expect(await engine.outputs("acme")).toEqual({ namespace: "matih-acme", adminPassword: "[secret]" });
    const stored = JSON.parse(await readFile(path.join(dataDir, "workspaces", "_plugins", "Pulumi.yaml"), "utf8").catch(() => "null"));
    expect(stored).toBeNull(); // the fake writes nothing; the engine itself writes no project files
  });
});

describe("Pulumi engine: retries by cause, healing, and what it leaves behind", () => {
  it("provisions with a refresh first, so a resource deleted out of band is created again instead of staying same", async () => {
    const factory = new FakeWorkspaceFactory();
    // Like the CLI: only `up --refresh` reads the resources and sees the zone is gone.
    factory.existing("acme").script("up", async (options) => replay(upAfterOutOfBandDeletion((options as UpOptions).refresh === true))(options));
    const { engine } = await startEngine(factory);
    const events: ProgressEvent[] = [];
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), onEvent: (e) => events.push(e) });

    expect(commandOptions<UpOptions>(factory, "up").refresh).toBe(true);
    expect(result.status).toBe("succeeded");
    expect(result.changeSummary.create).toBe(1);
    const [zone] = childrenOf(7);
    expect(events.filter((e) => e.type === "phase-progress" && e.resource.op === "create").map((e) => e.type === "phase-progress" && e.resource.urn)).toEqual([zone!.urn]);
    expect(events.some((e) => e.type === "diagnostic" && e.severity === "warning" && e.urn === zone!.urn && /deleted outside Pulumi/.test(e.message))).toBe(true);
    // The refresh reads are not phase progress: each phase starts once, in order.
    expect(events.filter((e) => e.type === "phase-started").map((e) => e.type === "phase-started" && e.phase.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("reports a program error that waits for something not there yet (no load-balancer IP) as retryable", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replayThenThrow(phase6ProgramError(), commandError("code: 255\n stderr: error: an unhandled error occurred: program failed\n")));
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "update_failed", retryable: true });
    expect(result.error?.message).toMatch(/no external IP assigned/);
  });

  it("reports a program bug as not retryable", async () => {
    const factory = new FakeWorkspaceFactory();
    const bug = phase6ProgramError().map((e) => (e.diagnosticEvent ? { ...e, diagnosticEvent: { ...e.diagnosticEvent, message: "error: TypeError: Cannot read properties of undefined (reading 'ingress')" } } : e));
    factory.existing("acme").script("up", replayThenThrow(bug, commandError("code: 255\n stderr: error: an unhandled error occurred: program failed\n")));
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result.error).toMatchObject({ code: "update_failed", retryable: false });
  });

  it("reports a resource failure whose cause a retry cannot fix (a cluster object owned by another release) as not retryable", async () => {
    const factory = new FakeWorkspaceFactory();
    const conflict = 'rendered manifests contain a resource that already exists. Unable to continue with install: ClusterRole "ingress-nginx" in namespace "" exists and cannot be imported into the current release';
    const events = phase6Failure().map((e) => (e.diagnosticEvent?.message.includes(NO_IP_MESSAGE) ? { ...e, diagnosticEvent: { ...e.diagnosticEvent, message: `error: ${conflict}` } } : e));
    factory.existing("acme").script("up", replayThenThrow(events, commandError("code: 255\n stderr: error: update failed\n")));
    const { engine } = await startEngine(factory);
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
    expect(result.error).toMatchObject({ code: "resource_failed", retryable: false, phase: { number: 6 } });
  });

  it("previews a tenant that has no stack as stack_not_found, creating no stack, work directory or plan directory", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const result = await engine.preview({ spec: tenantSpec({ slug: "ghost" }), settings: realRunSettings(), savePlan: true });
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("stack_not_found");
    expect(factory.callsTo("createOrSelectStack")).toEqual([]);
    expect(factory.stacks.has("ghost")).toBe(false);
    await expect(access(path.join(dataDir, "workspaces", "ghost"))).rejects.toThrow();
    await expect(access(path.join(dataDir, "plans", "ghost"))).rejects.toThrow();
  });

  it("previews with a refresh, as the provision it reviews does", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("preview", replay(previewAfterTierChange()));
    const { engine } = await startEngine(factory);
    await engine.preview({ spec: tenantSpec(), settings: realRunSettings() });
    expect(commandOptions<PreviewOptions>(factory, "preview").refresh).toBe(true);
  });

  it("refuses a relative kubeconfig path before anything runs, naming the setting", async () => {
    const factory = new FakeWorkspaceFactory();
    const { engine } = await startEngine(factory);
    const withKubeconfig = (kubeconfig: string) => {
      const settings = realRunSettings();
      return { ...settings, kubernetes: { ...settings.kubernetes, kubeconfig } };
    };
    const result = await engine.provision({ spec: tenantSpec(), settings: withKubeconfig("kube/aks.yaml") });
    expect(result.error?.code).toBe("configuration_error");
    expect(result.error?.message).toMatch(/settings\.kubernetes\.kubeconfig.*relative.*absolute/);
    expect(factory.callsTo("createOrSelectStack")).toEqual([]);

    factory.existing("acme").script("up", replay(successfulUp()));
    const absolute = await engine.provision({ spec: tenantSpec(), settings: withKubeconfig("/etc/matih/aks.yaml") });
    expect(absolute.status).toBe("succeeded");
    const inline = await engine.preview({ spec: tenantSpec(), settings: withKubeconfig("apiVersion: v1\nkind: Config\n") });
    expect(inline.error?.code).not.toBe("configuration_error");
  });
});

describe("Pulumi engine: a run it killed on a backend other than the local file one", () => {
  it("cancels the killed run's update (pulumi cancel) in a worker of its own and names the pending creates", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme");
    stack.lockHeld = true;
    stack.deployment = { resources: [], pending_operations: [{ resource: { urn: childrenOf(7)[0]!.urn, type: "azure-native:dns:Zone" }, type: "creating" }] };
    const env = { ...ENV, PULUMI_BACKEND_URL: "azblob://matih-state" };
    const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0 });
    const inProcess = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env }));
    // Stands for the forked runner killing the group of a worker that ran out of time.
    const runner = {
      jobs: inProcess.jobs,
      run: async (job: PulumiJob, options: Parameters<InProcessRunner["run"]>[1]) => {
        if (job.operation !== "provision") return inProcess.run(job, options);
        options.onKilled?.();
        throw new OperationTimeoutError(1000);
      },
    };
    const engine = await PulumiEngine.start({ config, runner: runner as never, gate: new OperationGate({ maxConcurrent: 1 }), env, logger: silent, detectCli: cliFound });
    const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings() });

    expect(result.error?.code).toBe("operation_timeout");
    expect(factory.callsTo("cancel")).toHaveLength(1);
    expect(stack.lockHeld).toBe(false);
    expect(result.error?.message).toContain(childrenOf(7)[0]!.urn);
    expect((runner.jobs.at(-1) as PulumiJob)).toMatchObject({ operation: "release-lock", slug: "acme" });
  });
});
