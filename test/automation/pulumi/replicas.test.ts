/**
 * Two service processes, each with its own data directory, on one state
 * backend: a stack one of them created must keep its secrets provider when
 * the other runs a command on it, and a plan one of them previewed must be
 * applied by the other. The workspace is the fake one (one factory is one
 * backend; the stack settings file is a real file in each process's work
 * directory, treated as the real CLI treats it).
 */
import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PreviewOptions, StackSettings, UpOptions } from "@pulumi/pulumi/automation/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { SavedPlan } from "../../../automation/core/types.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { previewAfterTierChange, successfulUp } from "../fixtures/engine-events.ts";
import { commandError, FakeWorkspaceFactory, readSettingsFile, replay, writeSettingsFile, type Script, type ScriptContext } from "../fixtures/fake-workspace.ts";
import { InProcessRunner } from "../helpers/in-process-runner.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const PASSPHRASE = "correct horse battery staple";
const ENV = { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, MATIH_PG_ADMIN_PASSWORD: "pg-admin-s3cret-value" };
const KEY_VAULT = "azurekeyvault://matih-kv.vault.azure.net/keys/pulumi";
const silent = { info() {}, warn() {}, error() {} };
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.276.0" });

let dirs: string[] = [];
beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** One service process: an engine on a data directory of its own, on the backend `factory` stands for. */
async function replica(factory: FakeWorkspaceFactory, env: Record<string, string> = {}) {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const fullEnv = { ...ENV, ...env };
  const config = loadEngineConfig({ ...fullEnv, MATIH_DATA_DIR: dataDir, PULUMI_BACKEND_URL: "azblob://matih-state" }, { lockWaitMs: 0 });
  const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env: fullEnv, lockPollMs: 2, takeoverMarginMs: 50 }));
  const engine = await PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 2 }), env: fullEnv, logger: silent, detectCli: cliFound });
  return { engine, runner, dataDir, workDir: path.join(dataDir, "workspaces", "acme") };
}

const secretsOf = (s: StackSettings | null) => (s ? { ...(s.secretsProvider ? { secretsProvider: s.secretsProvider } : {}), ...(s.encryptedKey ? { encryptedKey: s.encryptedKey } : {}), ...(s.encryptionSalt ? { encryptionSalt: s.encryptionSalt } : {}) } : null);

/** Records the settings each command ran with, then replays the events. */
function recording(seen: ScriptContext[], events = successfulUp()): Script {
  return async (options, context) => {
    seen.push(context!);
    return replay(events)(options);
  };
}

/**
 * A preview that saves a plan as the CLI does: its secret values as ciphertext
 * of the stack's secrets manager (here tagged with the settings' salt or key,
 * which is what decides whether another run can decrypt them).
 */
function previewSavingPlan(stackName = "acme"): Script {
  return async (options, context) => {
    const key = context!.settings.encryptionSalt ?? context!.settings.encryptedKey;
    const urn = `urn:pulumi:${stackName}::matih-tenants::kubernetes:core/v1:Secret::tenant-database-credentials`;
    const plan = { manifest: { version: "v3.276.0" }, resourcePlans: { [urn]: { goal: { type: "kubernetes:core/v1:Secret" }, state: { data: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: `${key}|c1ph3r` } } } } };
    await writeFile((options as PreviewOptions).plan!, JSON.stringify(plan, null, 4));
    return replay(previewAfterTierChange())(options);
  };
}

/**
 * The refreshed preview an update held to a plan runs first (plan-check.ts): nothing changes that the plan does not
 * (the plans saved here carry no steps). Scripted after the preview that saved the plan; unused where none runs.
 */
const planStillHolds: Script = replay([]);

/** `up --plan` as the CLI runs it: the plan's secrets must decrypt with the settings the command runs with. */
function upHeldToPlan(seen: { plan: string | undefined; content: string | null; context: ScriptContext }[]): Script {
  return async (options, context) => {
    const plan = (options as UpOptions).plan;
    const content = plan ? await readFile(plan, "utf8") : null;
    seen.push({ plan, content, context: context! });
    if (content) {
      const key = context!.settings.encryptionSalt ?? context!.settings.encryptedKey;
      for (const step of Object.values(JSON.parse(content).resourcePlans as Record<string, { state: { data: { ciphertext: string } } }>)) {
        if (!step.state.data.ciphertext.startsWith(`${key}|`)) throw commandError("code: 255\n stderr: error: decrypting secret value: cipher: message authentication failed\n");
      }
    }
    return replay(successfulUp())(options);
  };
}

describe("the stack's secrets settings across processes", () => {
  it("reports the settings `stack init` made, and another process writes them to its own work directory before its command runs", async () => {
    const factory = new FakeWorkspaceFactory();
    const a = await replica(factory);
    const b = await replica(factory);
    const seen: ScriptContext[] = [];
    factory.toBeCreated("acme").script("up", replay(successfulUp()));

    const created = await a.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2 });
    expect(created.status).toBe("succeeded");
    const madeByInit = secretsOf(await readSettingsFile(a.workDir, "acme"));
    expect(madeByInit?.encryptionSalt).toMatch(/^v1:/);
    expect(created.stackSettings).toEqual(madeByInit);

    factory.stacks.get("acme")!.script("up", recording(seen));
    const updated = await b.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2, stackSettings: created.stackSettings! });
    expect(updated.status).toBe("succeeded");
    expect((b.runner.jobs.at(-1) as PulumiJob).request?.stackSettings).toEqual(madeByInit);
    // B's command ran with A's salt, not one of its own, and the checkpoint stays encrypted under it.
    expect(secretsOf(seen[0]!.settings)).toEqual(madeByInit);
    expect(factory.stacks.get("acme")!.secretsState).toEqual(madeByInit);
    expect(secretsOf(await readSettingsFile(b.workDir, "acme"))).toEqual(madeByInit);
    expect(updated.stackSettings).toEqual(madeByInit);
    const saves = factory.callsTo("saveStackSettings");
    expect(saves).toHaveLength(1);
    expect(saves[0]!.args).toMatchObject({ workDir: b.workDir, stackName: "acme" });
  });

  it("restores them for a preview, a drift check and a teardown too, and a teardown reports none once the stack is gone", async () => {
    const factory = new FakeWorkspaceFactory();
    const b = await replica(factory);
    const recorded = { encryptionSalt: "v1:cmVjb3JkZWQ=:v1:fake:recorded" };
    const seen: ScriptContext[] = [];
    factory.existing("acme").script("preview", recording(seen, previewAfterTierChange())).script("previewRefresh", recording(seen, [])).script("destroy", recording(seen, []));

    const preview = await b.engine.preview({ spec: tenantSpec(), settings: realRunSettings(), stackSettings: recorded });
    expect(preview.status).toBe("succeeded");
    await rm(b.workDir, { recursive: true, force: true }); // a host that lost its disk in between
    const drift = await b.engine.driftCheck({ spec: tenantSpec(), settings: realRunSettings(), stackSettings: recorded });
    expect(drift.status).toBe("succeeded");
    const teardown = await b.engine.teardown({ spec: tenantSpec(), settings: realRunSettings(), stackSettings: recorded });
    expect(teardown).toMatchObject({ status: "succeeded", stackRemoved: true });

    expect(seen.map((c) => secretsOf(c.settings))).toEqual([recorded, recorded, recorded]);
    expect(preview.stackSettings).toEqual(recorded);
    expect(drift.stackSettings).toEqual(recorded);
    expect(teardown.stackSettings).toBeNull();
  });

  it("replaces a settings file that says otherwise (a salt an older version made on this host), keeping its other keys; a matching one is left alone", async () => {
    const factory = new FakeWorkspaceFactory();
    const b = await replica(factory);
    const recorded = { encryptionSalt: "v1:cmVjb3JkZWQ=:v1:fake:recorded" };
    await writeSettingsFile(b.workDir, "acme", { encryptionSalt: "v1:c3RhbGU=:v1:fake:stale", config: { "matih:note": "kept" } });
    const seen: ScriptContext[] = [];
    factory.existing("acme").script("up", recording(seen), recording(seen));

    await b.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2, stackSettings: recorded });
    expect(secretsOf(seen[0]!.settings)).toEqual(recorded);
    expect(await readSettingsFile(b.workDir, "acme")).toEqual({ ...recorded, config: { "matih:note": "kept" } });
    expect(factory.callsTo("saveStackSettings")).toHaveLength(1);

    await b.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2, stackSettings: recorded });
    expect(secretsOf(seen[1]!.settings)).toEqual(recorded);
    expect(factory.callsTo("saveStackSettings")).toHaveLength(1);
  });

  it("keeps a key vault stack on its key vault: the vault URL and the wrapped data key are restored as they were, and no passphrase is needed or passed", async () => {
    const factory = new FakeWorkspaceFactory();
    const b = await replica(factory, { PULUMI_CONFIG_PASSPHRASE: "", MATIH_SECRETS_PROVIDER: KEY_VAULT });
    const recorded = { secretsProvider: KEY_VAULT, encryptedKey: "d3JhcHBlZCBkYXRhIGtleQ==" };
    const seen: ScriptContext[] = [];
    factory.existing("acme").script("up", recording(seen));

    const result = await b.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2, stackSettings: recorded });
    expect(result.status).toBe("succeeded");
    expect(secretsOf(seen[0]!.settings)).toEqual(recorded);
    expect(result.stackSettings).toEqual(recorded);
    expect(JSON.stringify(b.runner.jobs)).not.toContain(PASSPHRASE);
  });

  it("without recorded settings (a tenant from before they were kept, or a check the service runs outside a run), takes the checkpoint's secrets provider rather than making a new one", async () => {
    const factory = new FakeWorkspaceFactory();
    const b = await replica(factory);
    const checkpoint = { encryptionSalt: "v1:Y2hlY2twb2ludA==:v1:fake:checkpoint" };
    const stack = factory.existing("acme");
    stack.secretsState = checkpoint;
    const seen: ScriptContext[] = [];
    stack.script("previewRefresh", recording(seen, []));

    const drift = await b.engine.driftCheck({ spec: tenantSpec(), settings: realRunSettings() });
    expect(drift.status).toBe("succeeded");
    expect(factory.callsTo("selectStack")[0]!.options).toMatchObject({ envVars: { PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true" } });
    expect(secretsOf(seen[0]!.settings)).toEqual(checkpoint);
    expect(drift.stackSettings).toEqual(checkpoint);
  });

  it("creates a stack afresh, with settings of its own, when the recorded stack no longer exists", async () => {
    const factory = new FakeWorkspaceFactory();
    const b = await replica(factory);
    const stale = { encryptionSalt: "v1:b2xk:v1:fake:old-stack" };
    await writeSettingsFile(b.workDir, "acme", stale); // this host ran the old stack
    const result = await b.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2, stackSettings: stale });
    expect(result.status).toBe("failed"); // the new stack's first up is not scripted
    expect(factory.stacks.has("acme")).toBe(true);
    const made = secretsOf(await readSettingsFile(b.workDir, "acme"));
    expect(made?.encryptionSalt).toMatch(/^v1:/);
    expect(made).not.toEqual(stale);
    expect(result.stackSettings).toEqual(made);
    expect(factory.callsTo("saveStackSettings")).toEqual([]);
  });
});

describe("saved plans across processes", () => {
  it("applies a plan one process previewed in another, from the plan's contents, under the stack's recorded secrets settings", async () => {
    const factory = new FakeWorkspaceFactory();
    const a = await replica(factory);
    const b = await replica(factory);
    factory.toBeCreated("acme").script("up", replay(successfulUp()));
    const ups: { plan: string | undefined; content: string | null; context: ScriptContext }[] = [];

    const created = await a.engine.provision({ spec: tenantSpec(), settings: realRunSettings(), lastPhase: 2 });
    const stack = factory.stacks.get("acme")!;
    stack.script("preview", previewSavingPlan(), planStillHolds).script("up", upHeldToPlan(ups));
    const preview = await a.engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), lastPhase: 2, savePlan: true, stackSettings: created.stackSettings! });
    expect(preview.status).toBe("succeeded");
    const saved = preview.plan!;
    const written = await readFile(saved.file, "utf8");
    expect(saved.content).toBe(written);
    expect(saved.sha256).toBe(createHash("sha256").update(written).digest("hex"));
    expect(saved.content).not.toContain(PASSPHRASE);

    // A is gone with its disk; B has nothing but what the service kept: the plan reference with its contents, and the settings.
    await rm(a.dataDir, { recursive: true, force: true });
    const applied = await b.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: saved, planMode: "exact", stackSettings: created.stackSettings! });
    expect(applied.error).toBeNull();
    expect(applied.status).toBe("succeeded");
    expect(ups).toHaveLength(1);
    expect(ups[0]!.plan).toBe(path.join(b.dataDir, "plans", "acme", `${saved.id}.json`));
    expect(ups[0]!.content).toBe(written);
  });

  it("refuses a plan whose contents are not what the preview saved, or were saved for another stack, before anything runs", async () => {
    const factory = new FakeWorkspaceFactory();
    const a = await replica(factory);
    const ups: { plan: string | undefined; content: string | null; context: ScriptContext }[] = [];
    factory.existing("acme").script("preview", previewSavingPlan(), previewSavingPlan("globex")).script("up", upHeldToPlan(ups));
    const preview = await a.engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), lastPhase: 2, savePlan: true });
    const saved = preview.plan!;
    expect(saved.content).toBeDefined();

    // Its file is still on this host: the contents the service handed back decide, and they must match the fingerprint.
    const tampered: SavedPlan = { ...saved, content: saved.content!.replace("kubernetes:core/v1:Secret\"", "kubernetes:core/v1:ConfigMap\"") };
    const refused = await a.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: tampered });
    expect(refused.error?.code).toBe("plan_mismatch");
    expect(refused.error?.message).toMatch(/fingerprint/);

    const unfingerprinted: SavedPlan = { ...saved, sha256: undefined as never };
    const alsoRefused = await a.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: JSON.parse(JSON.stringify(unfingerprinted)) });
    expect(alsoRefused.error?.code).toBe("plan_mismatch");

    // A plan whose steps are another stack's, under this tenant's plan reference and with a matching fingerprint.
    const other = await a.engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), lastPhase: 2, savePlan: true });
    const mixedUp: SavedPlan = { ...saved, content: other.plan!.content!, sha256: other.plan!.sha256! };
    const mixed = await a.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: mixedUp });
    expect(mixed.error?.code).toBe("plan_mismatch");
    expect(mixed.error?.message).toMatch(/globex/);
    expect(ups).toEqual([]);
  });

  it("reports a plan whose secrets the work directory's settings cannot decrypt as a configuration error, not a retryable failure", async () => {
    const factory = new FakeWorkspaceFactory();
    const a = await replica(factory);
    const b = await replica(factory);
    const ups: { plan: string | undefined; content: string | null; context: ScriptContext }[] = [];
    factory.existing("acme").script("preview", previewSavingPlan(), planStillHolds).script("up", upHeldToPlan(ups));
    const preview = await a.engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), lastPhase: 2, savePlan: true });
    // B has a settings file of its own, with another salt, and nothing recorded to restore (as before settings were kept).
    await writeSettingsFile(b.workDir, "acme", { encryptionSalt: "v1:b3RoZXI=:v1:fake:other" });
    const result = await b.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: preview.plan! });
    expect(result.error).toMatchObject({ code: "configuration_error", retryable: false });
    expect(result.error?.message).toMatch(/decrypting secret value/);
  });

  it("still applies a plan saved before its contents were kept, where its file is", async () => {
    const factory = new FakeWorkspaceFactory();
    const a = await replica(factory);
    const ups: { plan: string | undefined; content: string | null; context: ScriptContext }[] = [];
    factory.existing("acme").script("preview", previewSavingPlan(), planStillHolds).script("up", upHeldToPlan(ups));
    const preview = await a.engine.preview({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), lastPhase: 2, savePlan: true });
    const { content: _content, sha256: _sha256, ...legacy } = preview.plan!;
    const applied = await a.engine.provision({ spec: tenantSpec({ tier: "professional" }), settings: realRunSettings(), plan: legacy });
    expect(applied.status).toBe("succeeded");
    expect(ups[0]!.plan).toBe(preview.plan!.file);
  });
});
