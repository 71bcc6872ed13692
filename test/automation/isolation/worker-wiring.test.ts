/**
 * The real worker entry with the real Automation API: where no pulumi CLI is
 * installed, a Pulumi job fails inside the worker with cli_missing, which
 * shows the worker loads the SDK, builds a LocalWorkspace and maps its errors.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import type { OperationOutcome } from "../../../automation/core/operation.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

it("fails a Pulumi job in the real worker with cli_missing when the pulumi CLI cannot be found", async () => {
  const env = { ...process.env, PATH: path.join(dataDir, "no-bin"), PULUMI_CONFIG_PASSPHRASE: "correct horse battery staple" };
  const runner = new ForkedJobRunner({ env });
  const job: PulumiJob = {
    kind: "pulumi",
    operation: "drift-check",
    config: { dataDir, backendUrl: `file://${dataDir}/state`, secretsProvider: "passphrase", lockWaitMs: 0 },
    request: { spec: tenantSpec(), settings: realRunSettings() },
  };
  const outcome = (await runner.run(job, { signal: new AbortController().signal, graceMs: 5_000 })) as OperationOutcome<unknown>;
  expect(outcome.status).toBe("failed");
  expect(outcome.error?.code).toBe("cli_missing");
  expect(outcome.error?.message).toMatch(/MATIH_ENGINE=render/);
}, 60_000);
