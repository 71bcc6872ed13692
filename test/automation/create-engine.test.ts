import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig, secretsConfigurationProblem } from "../../automation/core/config.ts";
import { createEngine } from "../../automation/create-engine.ts";
import { CliMissingError, CliTooOldError, ConfigurationError } from "../../automation/core/errors.ts";
import type { PulumiJob } from "../../automation/isolation/protocol.ts";
import { detectPulumiCli, MINIMUM_PULUMI_CLI_VERSION } from "../../automation/pulumi/cli.ts";
import { runPulumiWorkerJob } from "../../automation/pulumi/operations.ts";
import { FakeWorkspaceFactory } from "./fixtures/fake-workspace.ts";
import { InProcessRunner } from "./helpers/in-process-runner.ts";
import { tempDataDir } from "./helpers/tenants.ts";

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) } };
}

const cliMissing = async () => ({ ok: false as const, error: new CliMissingError(MINIMUM_PULUMI_CLI_VERSION) });
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });

describe("engine configuration", () => {
  it("defaults to choosing by the CLI, the local file backend under the data directory, and the passphrase provider", () => {
    const config = loadEngineConfig({ MATIH_DATA_DIR: dataDir });
    expect(config).toMatchObject({
      engine: "auto",
      dataDir,
      backendUrl: `file://${path.join(dataDir, "state")}`,
      secretsProvider: "passphrase",
      passphraseFrom: null,
      maxConcurrentOperations: 4,
      operationTimeoutMs: 3_600_000,
      renderPace: 0,
      renderFaultPlan: {},
    });
  });

  it("reads limits, pace and a rehearsal fault plan from the environment", () => {
    const config = loadEngineConfig({
      MATIH_DATA_DIR: dataDir,
      MATIH_ENGINE: "render",
      MATIH_MAX_CONCURRENT_OPERATIONS: "8",
      MATIH_OPERATION_TIMEOUT_SECONDS: "900",
      MATIH_RENDER_PACE: "0.01",
      MATIH_RENDER_FAULTS: '{"6":{"failTimes":2,"message":"no external IP assigned within 600s"}}',
    });
    expect(config).toMatchObject({ engine: "render", maxConcurrentOperations: 8, operationTimeoutMs: 900_000, renderPace: 0.01 });
    expect(config.renderFaultPlan).toEqual({ 6: { failTimes: 2, message: "no external IP assigned within 600s" } });
  });

  it("names the variable at fault when a value is malformed", () => {
    expect(() => loadEngineConfig({ MATIH_ENGINE: "terraform" })).toThrow(/MATIH_ENGINE/);
    expect(() => loadEngineConfig({ MATIH_MAX_CONCURRENT_OPERATIONS: "0" })).toThrow(/MATIH_MAX_CONCURRENT_OPERATIONS/);
    expect(() => loadEngineConfig({ MATIH_RENDER_FAULTS: '{"11":{"failTimes":1}}' })).toThrow(/MATIH_RENDER_FAULTS.*phase number/);
    expect(() => loadEngineConfig({ MATIH_RENDER_FAULTS: "{not json" })).toThrow(ConfigurationError);
  });

  it("accepts a key vault or a passphrase for stack secrets, and explains what to set when there is neither", () => {
    const problem = (env: Record<string, string>) => secretsConfigurationProblem(loadEngineConfig({ MATIH_DATA_DIR: dataDir, ...env }));
    expect(problem({})).toMatch(/MATIH_SECRETS_PROVIDER.*azurekeyvault:\/\/.*PULUMI_CONFIG_PASSPHRASE/s);
    expect(problem({ PULUMI_CONFIG_PASSPHRASE: "x".repeat(12) })).toBeNull();
    expect(problem({ PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/pulumi" })).toBeNull();
    expect(problem({ MATIH_SECRETS_PROVIDER: "azurekeyvault://matih-kv.vault.azure.net/keys/pulumi" })).toBeNull();
    expect(problem({ MATIH_SECRETS_PROVIDER: "rot13" })).toMatch(/must be/);
    expect(problem({ MATIH_SECRETS_PROVIDER: "default", PULUMI_BACKEND_URL: "s3://user:pw@bucket" })).toMatch(/Pulumi Cloud backend.*s3:\/\/\*\*\*@bucket/);
  });
});

describe("engine selection at start-up", () => {
  it("uses the render engine when MATIH_ENGINE=render, warning that no infrastructure will be changed", async () => {
    const { lines, logger } = capturingLogger();
    const engine = await createEngine({ env: { MATIH_ENGINE: "render", MATIH_DATA_DIR: dataDir }, logger, detectCli: cliFound });
    expect(engine.kind).toBe("render");
    expect(engine.changesInfrastructure).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^warn .*no infrastructure will be changed/i)]);
  });

  it("falls back to the render engine when no suitable CLI is on PATH, with a warning", async () => {
    const { lines, logger } = capturingLogger();
    const engine = await createEngine({ env: { MATIH_DATA_DIR: dataDir }, logger, detectCli: cliMissing });
    expect(engine.kind).toBe("render");
    expect(lines).toEqual([expect.stringMatching(/^warn no suitable pulumi CLI.*NO INFRASTRUCTURE WILL BE CHANGED/)]);
  });

  it("refuses MATIH_ENGINE=pulumi without a suitable CLI rather than quietly changing nothing", async () => {
    await expect(createEngine({ env: { MATIH_ENGINE: "pulumi", MATIH_DATA_DIR: dataDir }, logger: capturingLogger().logger, detectCli: cliMissing })).rejects.toBeInstanceOf(CliMissingError);
  });

  it("chooses the Pulumi engine when a suitable CLI is found, and then insists on a secrets provider", async () => {
    const factory = new FakeWorkspaceFactory();
    const env = { MATIH_DATA_DIR: dataDir, PULUMI_CONFIG_PASSPHRASE: "correct horse battery staple" };
    const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env }));
    const engine = await createEngine({ env, logger: capturingLogger().logger, detectCli: cliFound, runner });
    expect(engine.kind).toBe("pulumi");
    expect(engine.changesInfrastructure).toBe(true);
    await expect(createEngine({ env: { MATIH_DATA_DIR: dataDir }, logger: capturingLogger().logger, detectCli: cliFound, runner })).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe("finding the pulumi CLI", () => {
  async function fakeCli(version: string): Promise<string> {
    const bin = path.join(dataDir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, "pulumi"), `#!/bin/sh\necho ${version}\n`);
    await chmod(path.join(bin, "pulumi"), 0o755);
    return bin;
  }

  it("reports a missing CLI with the version needed", async () => {
    const check = await detectPulumiCli({ PATH: path.join(dataDir, "nothing-here") });
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.error).toBeInstanceOf(CliMissingError);
      expect(check.error.message).toContain(MINIMUM_PULUMI_CLI_VERSION);
    }
  });

  it("reports a CLI older than the engine needs, naming both versions", async () => {
    const check = await detectPulumiCli({ PATH: await fakeCli("v3.100.0") });
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.error).toBeInstanceOf(CliTooOldError);
      expect(check.error.message).toMatch(/v3\.100\.0.*3\.181\.0/);
    }
  });

  it("accepts a CLI at or above the minimum version", async () => {
    const bin = await fakeCli("v3.190.2");
    expect(await detectPulumiCli({ PATH: bin })).toEqual({ ok: true, path: path.join(bin, "pulumi"), version: "v3.190.2" });
  });
});
