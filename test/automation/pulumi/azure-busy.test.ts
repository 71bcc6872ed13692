/**
 * Azure Resource Manager's 409 `AnotherOperationInProgress` (another operation
 * on the same resource, or on the server or network it belongs to, is still
 * running) is transient: the run's attempt is retried with back-off. A 409 for
 * a name that is someone else's stays a conflict that no retry fixes. The
 * texts are azure-native's own: autorest's one-line form (v2) and azcore's
 * block form (v3).
 */
import { rm } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { phaseByNumber } from "../../../model/phases.ts";
import { childUrn, componentUrn, EventLog, STACK_URN } from "../fixtures/engine-events.ts";
import { commandError, FakeWorkspaceFactory, replayThenThrow } from "../fixtures/fake-workspace.ts";
import { InProcessRunner } from "../helpers/in-process-runner.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const ENV = { PULUMI_CONFIG_PASSPHRASE: "not-a-real-passphrase", MATIH_PG_ADMIN_PASSWORD: "not-a-real-password" };
const silent = { info() {}, warn() {}, error() {} };
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });
const SUBSCRIPTION = "3f2c9b1e-7d4a-4b6e-9c1d-6e7f8a9b0c1d";
const SERVER_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/matih-acme/providers/Microsoft.DBforPostgreSQL/flexibleServers/matih-acme-pg`;
const STATUS_URI = `https://management.azure.com/subscriptions/${SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/5b0f1c9e-2a4d-4c8e-9f3b-7d6a1e2c4b8f?api-version=2024-08-01`;
const BUSY_MESSAGE = `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${STATUS_URI}.`;

/** azure-native v2 (autorest). */
const BUSY_V2 = `error: autorest/azure: Service returned an error. Status=409 Code="AnotherOperationInProgress" Message="${BUSY_MESSAGE}" Details=[]`;

/** azure-native v3 (azcore's ResponseError, under the provider's own prefix). */
function azcoreError(method: string, path: string, status: string, code: string, message: string): string {
  const rule = "-".repeat(80);
  return [
    `error: creating/updating ${path.split("/").pop()}: ${method} https://management.azure.com${path}?api-version=2024-08-01`,
    rule,
    `RESPONSE ${status}`,
    `ERROR CODE: ${code}`,
    rule,
    "{",
    '  "error": {',
    `    "code": "${code}",`,
    `    "message": "${message}"`,
    "  }",
    "}",
    rule,
  ].join("\n");
}
const BUSY_V3 = azcoreError("PUT", `${SERVER_ID}/firewallRules/office`, "409: 409 Conflict", "AnotherOperationInProgress", BUSY_MESSAGE);
const NAME_TAKEN_V3 = azcoreError("PUT", SERVER_ID, "409: 409 Conflict", "ServerNameAlreadyExists", "Specified server name is already used.");
const NAME_TAKEN_V2 = 'error: autorest/azure: Service returned an error. Status=409 Code="ServerNameAlreadyExists" Message="Specified server name is already used."';

const FIREWALL_RULE = { type: "azure-native:dbforpostgresql:FirewallRule", name: "database-firewall-office" };
const SERVER = { type: "azure-native:dbforpostgresql:Server", name: "database-server" };

/** Phase 1 done; in phase 2 one Azure resource fails with `diagnostic` (the engine's event order: failed step, then its message). */
function phase2AzureFailure(resource: { type: string; name: string }, diagnostic: string) {
  const urn = childUrn(2, resource.type, resource.name);
  const log = new EventLog().prelude().stackAndProvider().phase(1);
  log.pre(componentUrn(2), phaseByNumber(2).typeToken, "create")
    .pre(urn, resource.type, "create")
    .failed(urn, resource.type, "create")
    .diagnostic("error", diagnostic, urn)
    .diagnostic("error", "update failed", STACK_URN);
  return log.summary({ create: 6 }).events;
}

/** What the CLI prints when an update fails: the diagnostics, indented, on stdout. */
function cliFailure(resource: { type: string; name: string }, diagnostic: string): Error {
  const indented = diagnostic.split("\n").map((line) => `    ${line}`).join("\n");
  return commandError(
    `code: 255\n stdout: Updating (acme):\n\nDiagnostics:\n  ${resource.type} (${resource.name}):\n${indented}\n\n  pulumi:pulumi:Stack (matih-tenants-acme):\n    error: update failed\n\n` +
      "Resources:\n    6 unchanged\n\nDuration: 41s\n\n stderr: \n",
  );
}

let dataDir: string;
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function provisionFailingWith(events: ReturnType<typeof phase2AzureFailure>, error: Error) {
  const factory = new FakeWorkspaceFactory();
  factory.existing("acme").script("up", replayThenThrow(events, error));
  const config = loadEngineConfig({ ...ENV, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0 });
  const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env: ENV, lockPollMs: 2, takeoverMarginMs: 0 }));
  const engine = await PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 1 }), env: ENV, logger: silent, detectCli: cliFound });
  return engine.provision({ spec: tenantSpec(), settings: realRunSettings() });
}

describe("Azure's AnotherOperationInProgress", () => {
  for (const [form, text] of [["azure-native v2 (autorest)", BUSY_V2], ["azure-native v3 (azcore)", BUSY_V3]] as const) {
    it(`is a retryable resource failure of its phase (${form})`, async () => {
      const result = await provisionFailingWith(phase2AzureFailure(FIREWALL_RULE, text), cliFailure(FIREWALL_RULE, text));
      expect(result.status).toBe("failed");
      expect(result.error).toMatchObject({ code: "resource_failed", retryable: true, phase: { number: 2 }, urn: childUrn(2, FIREWALL_RULE.type, FIREWALL_RULE.name) });
      expect(result.error?.message).toContain("AnotherOperationInProgress");
    });

    it(`is retryable when the failure reaches the engine only in the CLI's output (${form})`, async () => {
      // No resource event carried it (the step's events never reached the engine): the CLI's `error:` lines are all there is.
      const result = await provisionFailingWith(new EventLog().prelude().stackAndProvider().phase(1).events, cliFailure(FIREWALL_RULE, text));
      expect(result.status).toBe("failed");
      expect(result.error).toMatchObject({ code: "update_failed", retryable: true });
    });
  }

  it("is retryable when it comes as a program error (an invoke or apply that called Azure)", async () => {
    const events = new EventLog().prelude().stackAndProvider().phase(1).diagnostic("error", `error: Running program failed with an unhandled exception:\nError: ${BUSY_V3.replace(/^error: /, "")}`, STACK_URN).events;
    const result = await provisionFailingWith(events, commandError("code: 255\n stderr: error: an unhandled error occurred: program failed\n"));
    expect(result.error).toMatchObject({ code: "update_failed", retryable: true });
  });
});

describe("a genuine Azure 409 conflict", () => {
  for (const [form, text] of [["azure-native v2 (autorest)", NAME_TAKEN_V2], ["azure-native v3 (azcore)", NAME_TAKEN_V3]] as const) {
    it(`stays a resource failure no retry fixes: a server name already taken (${form})`, async () => {
      const result = await provisionFailingWith(phase2AzureFailure(SERVER, text), cliFailure(SERVER, text));
      expect(result.status).toBe("failed");
      expect(result.error).toMatchObject({ code: "resource_failed", retryable: false, phase: { number: 2 } });
      expect(result.error?.message).toContain("ServerNameAlreadyExists");
    });

    it(`stays not retryable when it reaches the engine only in the CLI's output (${form})`, async () => {
      const result = await provisionFailingWith(new EventLog().prelude().stackAndProvider().phase(1).events, cliFailure(SERVER, text));
      expect(result.error).toMatchObject({ code: "update_failed", retryable: false });
    });
  }

  it("stays a conflict when its message says the name is taken in words (a 409 that only mentions Conflict is not busy)", async () => {
    const taken = azcoreError("PUT", `${SERVER_ID}/databases/matih`, "409: 409 Conflict", "Conflict", "Database 'matih' already exists on server 'matih-acme-pg'.");
    const result = await provisionFailingWith(phase2AzureFailure({ type: "azure-native:dbforpostgresql:Database", name: "database-database" }, taken), cliFailure(SERVER, taken));
    expect(result.error).toMatchObject({ code: "resource_failed", retryable: false });
  });
});
