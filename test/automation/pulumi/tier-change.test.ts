/**
 * A change of tier on the Pulumi engine is two updates: the first with both
 * tiers' allowances (the quota and role connection limit at the larger of the
 * two, the old tier's pool still running) while every workload rolls, then the
 * contract, previewed first and refused when it would do more than lower and
 * remove. Here against a scripted workspace: which commands run, in which
 * order, what the status hears; the program side is test/stacks/tier-change.test.ts,
 * the real cluster test/real-run/fleet.real.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rm } from "node:fs/promises";
import { PHASES } from "../../../model/phases.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import type { OperationOutcome } from "../../../automation/core/operation.ts";
import type { PreviewResult, ProgressEventBody, ProvisionResult } from "../../../automation/core/types.ts";
import type { Tier } from "../../../model/tiers.ts";
import { childUrn, EventLog, successfulUp } from "../fixtures/engine-events.ts";
import { FakeWorkspaceFactory, replay, type FakeStack } from "../fixtures/fake-workspace.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const QUOTA = childUrn(1, "kubernetes:core/v1:ResourceQuota", "namespace-quota");
const ROLE = childUrn(2, "postgresql:index/role:Role", "database-role");
const POOL = childUrn(2, "kubernetes:apps/v1:Deployment", "database-pool");
const POOL_SERVICE = childUrn(2, "kubernetes:core/v1:Service", "database-pool-service");
const CORE_RELEASE = childUrn(3, "kubernetes:helm.sh/v3:Release", "core-services-ai-service");

function contractPreview(extra: (log: EventLog) => EventLog = (l) => l) {
  const log = new EventLog().prelude()
    .pre(QUOTA, "kubernetes:core/v1:ResourceQuota", "update")
    .pre(ROLE, "postgresql:index/role:Role", "update")
    .pre(POOL, "kubernetes:apps/v1:Deployment", "delete")
    .pre(POOL_SERVICE, "kubernetes:core/v1:Service", "delete");
  return replay(extra(log).events);
}

const commands = (stack: FakeStack) => stack.calls.map((c) => c.method).filter((m) => m !== "createOrSelectStack" && m !== "selectStack");
const steps = (bodies: ProgressEventBody[]) => bodies.flatMap((b) => (b.type === "phase-step" ? [`${b.phase.number} ${b.step} ${b.status}`] : []));

describe("a change of tier on the Pulumi engine", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await tempDataDir();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const job = (operation: "provision" | "preview", tier: Tier): PulumiJob => ({
    kind: "pulumi",
    operation,
    config: { dataDir, backendUrl: `file://${dataDir}/state`, secretsProvider: "passphrase", lockWaitMs: 0 },
    request: { spec: tenantSpec({ tier }), settings: realRunSettings(), lastPhase: PHASES.length },
  });

  async function run(factory: FakeWorkspaceFactory, theJob: PulumiJob) {
    const bodies: ProgressEventBody[] = [];
    const outcome = (await runPulumiWorkerJob(theJob, {
      factory, env: {}, lockPollMs: 2, takeoverMarginMs: 0, signal: new AbortController().signal, emit: (b) => bodies.push(b), log: () => {},
    })) as OperationOutcome<unknown>;
    return { outcome, bodies };
  }

  function stackAppliedAs(factory: FakeWorkspaceFactory, tier: Tier): FakeStack {
    const stack = factory.existing("acme");
    stack.outputValues = { tier: { value: tier, secret: false }, slug: { value: "acme", secret: false } };
    return stack;
  }

  it("professional → free: the update, then the contract previewed and applied, each a sub-step of phase 2", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, "professional").script("up", replay(successfulUp()), replay([])).script("preview", contractPreview());
    const { outcome, bodies } = await run(factory, job("provision", "free"));
    const result = outcome as OperationOutcome<Pick<ProvisionResult, "lastPhase" | "outputs">>;
    expect(result.status).toBe("succeeded");
    expect(commands(stack)).toEqual(["outputs", "up", "preview", "up", "outputs"]);
    expect(steps(bodies)).toEqual(["2 switch started", "2 switch succeeded", "2 contract started", "2 contract succeeded"]);
    const contract = bodies.find((b) => b.type === "phase-step" && b.step === "contract" && b.status === "started");
    // The seed's quotas and the tier table's connection limits and pool, as literals.
    expect(contract?.type === "phase-step" && contract.message).toBe(
      "the namespace quota comes down from 8/16 CPU, 16Gi/32Gi memory (requests/limits), 50 pods to free's 2/4 CPU, 4Gi/8Gi memory (requests/limits), 20 pods; " +
      "the tenant role's connection limit comes down from 60 to 20; the professional tier's PgBouncer pool (2 replicas) is removed",
    );
  });

  it("refuses a contract that would do more than lower and remove, and applies nothing of it", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, "professional").script("up", replay(successfulUp()))
      .script("preview", contractPreview((log) => log.pre(CORE_RELEASE, "kubernetes:helm.sh/v3:Release", "update")));
    const { outcome, bodies } = await run(factory, job("provision", "free"));
    expect(outcome).toMatchObject({ status: "failed", error: { code: "update_failed" } });
    expect((outcome as OperationOutcome<unknown>).error?.message).toContain(`update ${CORE_RELEASE}`);
    expect((outcome as OperationOutcome<unknown>).error?.message).toContain("nothing of it was applied");
    expect(commands(stack)).toEqual(["outputs", "up", "preview"]);
    expect(steps(bodies)).toEqual(["2 switch started", "2 switch succeeded", "2 contract started", "2 contract failed"]);
  });

  it("an update on the tier the stack already has runs once, with no sub-steps", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, "free").script("up", replay(successfulUp()));
    const { outcome, bodies } = await run(factory, job("provision", "free"));
    expect(outcome.status).toBe("succeeded");
    expect(commands(stack)).toEqual(["outputs", "up"]);
    expect(steps(bodies)).toEqual([]);
  });

  it("free → professional has nothing to contract: one update, the switch its only sub-step", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = stackAppliedAs(factory, "free").script("up", replay(successfulUp()));
    const { outcome, bodies } = await run(factory, job("provision", "professional"));
    expect(outcome.status).toBe("succeeded");
    expect(commands(stack)).toEqual(["outputs", "up"]);
    expect(steps(bodies)).toEqual(["2 switch started", "2 switch succeeded"]);
  });

  it("the preview of a change of tier says it will contract, and what", async () => {
    const factory = new FakeWorkspaceFactory();
    stackAppliedAs(factory, "professional").script("preview", replay([]));
    const { outcome } = await run(factory, job("preview", "free"));
    const result = outcome as OperationOutcome<Pick<PreviewResult, "tierChange">>;
    expect(result.status).toBe("succeeded");
    expect(result.extras.tierChange?.steps).toEqual(["switch", "contract"]);
    expect(result.extras.tierChange?.move).toBeNull();
    expect(result.extras.tierChange?.note).toContain("the professional tier's PgBouncer pool (2 replicas) is removed");
  });
});
