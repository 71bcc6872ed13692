/**
 * Runs against a real pulumi CLI, with the local file backend in a temporary
 * data directory. Where no suitable CLI is on PATH (as on the development
 * machines) these tests are skipped and their names say why. Previews and
 * updates against a real cluster are the real-run suite's (test/real-run).
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { StackNotFoundError } from "../../../automation/core/errors.ts";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import { detectPulumiCli } from "../../../automation/pulumi/cli.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { platformSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const cli = await detectPulumiCli();
const noCli = cli.ok ? "" : ` [skipped: ${cli.error.message.split(" (")[0]!.split(", and")[0]}]`;

describe("Pulumi engine against a real CLI", () => {
  let dataDir: string;
  let engine: PulumiEngine | undefined;
  const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE || "matih-test-passphrase", MATIH_PG_ADMIN_PASSWORD: process.env.MATIH_PG_ADMIN_PASSWORD || "unused-in-preview" };

  beforeAll(async () => {
    if (!cli.ok) return;
    dataDir = await tempDataDir();
    const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir });
    engine = await PulumiEngine.start({ config, runner: new ForkedJobRunner({ env }), gate: new OperationGate({ maxConcurrent: 2 }), env });
  }, 600_000);

  afterAll(async () => {
    await engine?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it.skipIf(!cli.ok)(`starts, installs the provider plugins and answers for a tenant that has no stack${noCli}`, async () => {
    const settings = platformSettings();
    const drift = await engine!.driftCheck({ spec: tenantSpec({ slug: "never-provisioned" }), settings });
    expect(drift.error?.code).toBe("stack_not_found");
    await expect(engine!.outputs("never-provisioned")).rejects.toBeInstanceOf(StackNotFoundError);
    const teardown = await engine!.teardown({ spec: tenantSpec({ slug: "never-provisioned" }), settings });
    expect(teardown).toMatchObject({ status: "succeeded", alreadyAbsent: true });
  }, 600_000);
});
