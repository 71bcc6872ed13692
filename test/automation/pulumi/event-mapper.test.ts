import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rm } from "node:fs/promises";
import { PHASES } from "../../../model/phases.ts";
import { OperationCancelledError } from "../../../automation/core/errors.ts";
import { PhaseTracker } from "../../../automation/core/phase-tracker.ts";
import { PulumiEventMapper } from "../../../automation/pulumi/event-mapper.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import type { OperationOutcome } from "../../../automation/core/operation.ts";
import { plainText } from "../../../automation/core/redact.ts";
import type { ProgressEventBody, ProvisionResult } from "../../../automation/core/types.ts";
import {
  cancellationTail,
  childrenOf,
  componentUrn,
  NO_IP_MESSAGE,
  phase6Failure,
  successfulUp,
  upToPhase4Start,
} from "../fixtures/engine-events.ts";
import { FakeWorkspaceFactory, lockConflict, replay, replayThenThrow, replayUntilAborted, commandError } from "../fixtures/fake-workspace.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

/** What was asked of the stack itself, leaving out how it was opened. */
function stackCommands(stack: { calls: readonly { method: string }[] }): string[] {
  return stack.calls.map((c) => c.method).filter((m) => m !== "createOrSelectStack" && m !== "selectStack");
}

function mapAll(events: readonly EngineEvent[]) {
  const bodies: ProgressEventBody[] = [];
  const tracker = new PhaseTracker((b) => bodies.push(b));
  const mapper = new PulumiEventMapper(tracker, { clean: plainText, emit: (b) => bodies.push(b) });
  for (const event of events) mapper.handle(event);
  mapper.flush();
  return { bodies, tracker, mapper };
}

/** Phase transitions as [event type, phase number], leaving out per-resource progress. */
function transitions(bodies: readonly ProgressEventBody[]): [string, number][] {
  return bodies.flatMap((b) => (b.type.startsWith("phase-") && b.type !== "phase-progress" && "phase" in b && b.phase ? [[b.type, b.phase.number] as [string, number]] : []));
}

describe("mapping engine events onto phases", () => {
  it("reports each phase as started, then succeeded, in order, for a successful up", () => {
    const { bodies, tracker } = mapAll(successfulUp());
    expect(transitions(bodies)).toEqual(PHASES.flatMap((p) => [["phase-started", p.number], ["phase-succeeded", p.number]]));
    for (const body of bodies) {
      if (body.type !== "phase-succeeded") continue;
      expect(body.phase.name).toBe(PHASES[body.phase.number - 1]!.name);
      expect(body.resources).toEqual({ done: childrenOf(body.phase.number).length, pending: 0 });
    }
    const children = PHASES.reduce((n, p) => n + childrenOf(p.number).length, 0);
    // Every child, every phase component and the provider; the stack itself is not counted.
    expect(tracker.changeSummary()).toEqual({ create: children + PHASES.length + 1, update: 0, replace: 0, delete: 0, same: 0 });
  });

  it("counts a phase's resources done and pending as the engine reaches them", () => {
    const { bodies } = mapAll(successfulUp());
    const phase1 = bodies.filter((b) => "phase" in b && b.phase?.number === 1 && b.type !== "diagnostic");
    expect(phase1.map((b) => [b.type, "resources" in b ? b.resources : null])).toEqual([
      ["phase-started", { done: 0, pending: 0 }],
      ["phase-progress", { done: 1, pending: 0 }],
      ["phase-progress", { done: 2, pending: 0 }],
      ["phase-progress", { done: 3, pending: 0 }],
      ["phase-succeeded", { done: 3, pending: 0 }],
    ]);
  });

  it("does not call a phase succeeded until its component's outputs arrive", () => {
    const events = successfulUp();
    const componentOutputs = events.findIndex((e) => e.resOutputsEvent?.metadata.urn === componentUrn(3));
    const { bodies } = mapAll(events.slice(0, componentOutputs));
    expect(transitions(bodies).at(-1)).toEqual(["phase-started", 3]);
  });

  it("fails phase 6 with the Service that got no load-balancer IP and the engine's message, and starts no later phase", () => {
    const { bodies, tracker } = mapAll(phase6Failure());
    expect(transitions(bodies)).toEqual([
      ...[1, 2, 3, 4, 5].flatMap((n) => [["phase-started", n], ["phase-succeeded", n]]),
      ["phase-started", 6],
      ["phase-failed", 6],
    ]);
    const failed = bodies.find((b) => b.type === "phase-failed");
    const service = childrenOf(6)[1]!;
    expect(failed).toMatchObject({
      phase: { number: 6, name: "DEPLOY_INGRESS_CONTROLLER" },
      resources: { done: 1, pending: 1 },
      failure: { urn: service.urn, type: "kubernetes:core/v1:Service" },
    });
    // The failed-operation event came before its diagnostic; the message is the diagnostic's, without colour codes.
    expect(failed?.type === "phase-failed" && failed.failure.message).toBe(plainText(NO_IP_MESSAGE));
    expect(tracker.firstFailure()?.phase?.number).toBe(6);
  });

  it("falls back to a generic message when the engine never explains a failed operation", () => {
    const service = childrenOf(6)[1]!;
    const events = phase6Failure().filter((e) => !(e.diagnosticEvent && e.diagnosticEvent.urn === service.urn));
    const { bodies } = mapAll(events);
    const failed = bodies.find((b) => b.type === "phase-failed");
    expect(failed?.type === "phase-failed" && failed.failure.message).toMatch(/update failed|operation failed/);
  });

  it("passes warnings and errors on as diagnostics but not the program's own output", () => {
    const log = successfulUp();
    log.splice(3, 0,
      { sequence: 900, timestamp: 0, diagnosticEvent: { message: "console.log from the program", color: "raw", severity: "info" } },
      { sequence: 901, timestamp: 0, diagnosticEvent: { message: "<{%fg 3%}>kubernetes:helm.sh/v3:Release is deprecated<{%reset%}>", color: "raw", severity: "warning" } },
    );
    const { bodies } = mapAll(log);
    expect(bodies.filter((b) => b.type === "diagnostic")).toEqual([
      { type: "diagnostic", severity: "warning", message: "kubernetes:helm.sh/v3:Release is deprecated", urn: null, phase: null },
    ]);
  });
});

describe("engine events through a provision run", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await tempDataDir();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const job = (overrides: Partial<NonNullable<PulumiJob["request"]>> = {}, lockWaitMs = 0): PulumiJob => ({
    kind: "pulumi",
    operation: "provision",
    config: { dataDir, backendUrl: `file://${dataDir}/state`, secretsProvider: "passphrase", lockWaitMs },
    request: { spec: tenantSpec(), settings: realRunSettings(), lastPhase: PHASES.length, ...overrides },
  });

  async function run(factory: FakeWorkspaceFactory, theJob: PulumiJob) {
    const bodies: ProgressEventBody[] = [];
    const outcome = (await runPulumiWorkerJob(theJob, {
      factory,
      env: {},
      lockPollMs: 2,
      takeoverMarginMs: 0,
      signal: new AbortController().signal,
      emit: (b) => bodies.push(b),
      log: () => {},
    })) as OperationOutcome<Pick<ProvisionResult, "lastPhase" | "outputs">>;
    return { outcome, bodies };
  }

  it("turns the phase 6 failure into a failed provision naming the phase, the resource and the message", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replayThenThrow(phase6Failure(), commandError("code: 255\n stderr: error: update failed\n")));
    const { outcome } = await run(factory, job());
    expect(outcome.status).toBe("failed");
    expect(outcome.error).toMatchObject({ code: "resource_failed", retryable: true, phase: { number: 6 }, urn: childrenOf(6)[1]!.urn });
    expect(outcome.error?.message).toContain("no external IP assigned within 600s");
    expect(outcome.phases.map((p) => [p.phase.number, p.status])).toEqual([[1, "succeeded"], [2, "succeeded"], [3, "succeeded"], [4, "succeeded"], [5, "succeeded"], [6, "failed"]]);
  });

  it("reports a cancelled run as cancelled, with the phase it was in cut short after its in-flight step", async () => {
    const factory = new FakeWorkspaceFactory();
    factory.existing("acme").script("up", replayUntilAborted(upToPhase4Start(), cancellationTail()));
    const controller = new AbortController();
    const bodies: ProgressEventBody[] = [];
    const outcome = (await runPulumiWorkerJob(job(), {
      factory,
      env: {},
      signal: controller.signal,
      emit: (b) => {
        bodies.push(b);
        if (b.type === "phase-started" && b.phase.number === 4) controller.abort(new OperationCancelledError());
      },
      log: () => {},
    })) as OperationOutcome<unknown>;
    expect(outcome.status).toBe("cancelled");
    expect(outcome.error?.code).toBe("operation_cancelled");
    expect(transitions(bodies)).toEqual([
      ...[1, 2, 3].flatMap((n) => [["phase-started", n], ["phase-succeeded", n]]),
      ["phase-started", 4],
      ["phase-cancelled", 4],
    ]);
    const cancelled = bodies.find((b) => b.type === "phase-cancelled");
    expect(cancelled).toMatchObject({ resources: { done: 1, pending: 0 }, reason: "the operation was cancelled" });
  });

  it("reports a lock held by another live run as stack_locked without breaking it or starting any phase", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replayThenThrow([], lockConflict()));
    const { outcome, bodies } = await run(factory, job());
    expect(outcome.status).toBe("failed");
    expect(outcome.error).toMatchObject({ code: "stack_locked", retryable: true });
    expect(outcome.error?.message).toContain("currently locked");
    expect(transitions(bodies)).toEqual([]);
    expect(stack.calls.filter((c) => c.method === "cancel")).toEqual([]);
  });

  it("waits for a live run's lock and carries on once it is released", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replayThenThrow([], lockConflict()), replayThenThrow([], lockConflict()), replay(successfulUp()));
    const { outcome, bodies } = await run(factory, job({}, 60_000));
    expect(outcome.status).toBe("succeeded");
    // The tier the stack was last applied with is read once, before any update (a change of tier runs differently).
    expect(stackCommands(stack)).toEqual(["outputs", "up", "up", "up"]);
    expect(bodies.filter((b) => b.type === "diagnostic").map((b) => b.type === "diagnostic" && b.message)).toEqual([expect.stringMatching(/locked by another run; waiting/)]);
  });

  it("on a takeover, never cancels a lock whose owner it cannot see dead (a live run's lock looks the same): reports stack_locked", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replayThenThrow([], lockConflict()), replay(successfulUp()));
    const { outcome } = await run(factory, job({ ownerDead: true }));
    expect(outcome.status).toBe("failed");
    expect(outcome.error?.code).toBe("stack_locked");
    expect(stackCommands(stack)).toEqual(["outputs", "up"]);
  });
});
