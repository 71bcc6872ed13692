/**
 * A phase is done only when every resource in it is done. The engine reports
 * a phase SUCCEEDED when its component's outputs arrive, and the SDK sends
 * those as soon as the values given to `registerOutputs` resolve: unless they
 * wait for the children, phase 2 would show SUCCEEDED before its Jobs ran.
 *
 * Here the real program runs under the mock runtime with a cloud that takes
 * its time (Jobs, the Certificate, Helm releases, DNS records and the rest
 * answer late, as real providers do), and the monitor's calls are turned into
 * the engine events a real `pulumi up` emits: a step starts when the resource
 * is registered, a custom resource is done when the provider answers, a
 * component is done when it registers its outputs. Those events go through
 * the Pulumi engine's event mapping; the render engine's walk is checked on
 * the same program.
 */
import * as pulumi from "@pulumi/pulumi";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { beforeAll, describe, expect, it } from "vitest";
import { PulumiEventMapper } from "../../automation/pulumi/event-mapper.ts";
import { PhaseTracker } from "../../automation/core/phase-tracker.ts";
import { planUpdate } from "../../automation/render/steps.ts";
import { walkPlan } from "../../automation/render/walk.ts";
import type { ProgressEventBody } from "../../automation/core/types.ts";
import { PHASES } from "../../model/phases.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { PROJECT_NAME } from "../../model/constants.ts";
import { tenantProgram } from "../../stacks/tenant-program.ts";
import { acmeSpec } from "../support/acme.ts";

/** How long the slow cloud takes per resource type (ms): what the providers wait for. */
const DELAYS: [RegExp, number][] = [
  [/^kubernetes:batch\/v1:Job$/, 120], // migrations, connectivity and pipeline checks
  [/^kubernetes:cert-manager\.io\/v1:Certificate$/, 150], // Ready after DNS-01
  [/^kubernetes:helm\.sh\/v3:Release$/, 60], // pods ready
  [/^azure-native:dns:RecordSet$/, 80],
  [/^azure-native:dbforpostgresql:/, 90],
  [/^kubernetes:networking\.k8s\.io\/v1:Ingress$/, 70],
  [/^postgresql:/, 40],
  [/^kubernetes:/, 10],
];
const delayOf = (type: string) => DELAYS.find(([re]) => re.test(type))?.[1] ?? 5;

interface Step { kind: "pre" | "outputs"; urn: string; type: string; custom: boolean; at: number }

/** Runs the program against the slow cloud and returns what the engine would see, in order. */
async function runAgainstSlowCloud(tier: "free" | "professional" | "enterprise"): Promise<Step[]> {
  const settings = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] } });
  const spec = acmeSpec(tier, {}, settings);
  const base = cloudMocks(spec, settings);
  await pulumi.runtime.setMocks({
    call: (a) => base.call(a),
    newResource: async (a) => {
      await new Promise((resolve) => setTimeout(resolve, delayOf(a.type)));
      return base.newResource(a);
    },
  }, PROJECT_NAME, spec.slug, false);
  const steps: Step[] = [];
  const t0 = performance.now();
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: any, cb: (err: any, res: any) => void): Promise<void>;
    registerResourceOutputs(req: any, cb: (err: any, res: any) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const type: string = req.getType();
    const custom: boolean = req.getCustom();
    const pre: Step = { kind: "pre", urn: "", type, custom, at: performance.now() - t0 };
    steps.push(pre);
    return register(req, (err, res) => {
      if (!err) {
        pre.urn = res.getUrn();
        // A component's step is done when its outputs arrive, not when it is registered.
        if (custom) steps.push({ kind: "outputs", urn: res.getUrn(), type, custom, at: performance.now() - t0 });
      }
      cb(err, res);
    });
  };
  monitor.registerResourceOutputs = (req, cb) => {
    const urn: string = req.getUrn();
    const type = urn.split("::")[2]!.split("$").at(-1)!;
    steps.push({ kind: "outputs", urn, type, custom: false, at: performance.now() - t0 });
    registerOutputs(req, cb);
  };
  await pulumi.runtime.runInPulumiStack(async () => tenantProgram(spec, settings));
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return steps.filter((s) => s.urn !== "" && s.type !== "pulumi:pulumi:Stack");
}

function engineEvents(steps: readonly Step[]): EngineEvent[] {
  return steps.map((s, i) => {
    const metadata = { op: "create", urn: s.urn, type: s.type, provider: "" } as never;
    return (s.kind === "pre" ? { sequence: i, timestamp: 0, resourcePreEvent: { metadata } } : { sequence: i, timestamp: 0, resOutputsEvent: { metadata } }) as EngineEvent;
  });
}

const phaseOfUrn = (urn: string) => PHASES.find((p) => urn.split("::")[2]!.split("$").includes(p.typeToken))?.number ?? null;

describe.each(["free", "professional", "enterprise"] as const)("a %s tenant on a cloud that answers late", (tier) => {
  let steps: Step[];
  beforeAll(async () => {
    steps = await runAgainstSlowCloud(tier);
  }, 60_000);

  it("registers each phase component's outputs only after every child of the phase is done", () => {
    for (const phase of PHASES) {
      const component = steps.find((s) => s.kind === "outputs" && !s.custom && s.type === phase.typeToken);
      expect(component, `outputs of phase ${phase.number}`).toBeDefined();
      const children = steps.filter((s) => s.kind === "outputs" && s.custom && phaseOfUrn(s.urn) === phase.number);
      expect(children.length, `children of phase ${phase.number}`).toBeGreaterThan(0);
      const lastChild = Math.max(...children.map((c) => steps.indexOf(c)));
      expect(steps.indexOf(component!), `phase ${phase.number} ${phase.name}: outputs after its last child (${children.at(-1)!.type})`).toBeGreaterThan(lastChild);
    }
  });

  it("is mapped by the Pulumi engine's event mapping to SUCCEEDED only after every child's progress, with none pending", () => {
    const emitted: ProgressEventBody[] = [];
    const tracker = new PhaseTracker((e) => emitted.push(e));
    const mapper = new PulumiEventMapper(tracker, { clean: (t) => t, emit: (e) => emitted.push(e) });
    for (const event of engineEvents(steps)) mapper.handle(event);
    mapper.flush();
    for (const phase of PHASES) {
      const succeeded = emitted.findIndex((e) => e.type === "phase-succeeded" && e.phase.number === phase.number);
      expect(succeeded, `phase ${phase.number} succeeded`).toBeGreaterThan(-1);
      const lastProgress = emitted.findLastIndex((e) => e.type === "phase-progress" && e.phase.number === phase.number);
      expect(succeeded, `phase ${phase.number} ${phase.name}`).toBeGreaterThan(lastProgress);
      const children = new Set(steps.filter((s) => s.custom && phaseOfUrn(s.urn) === phase.number).map((s) => s.urn)).size;
      expect(emitted[succeeded]).toMatchObject({ resources: { done: children, pending: 0 } });
    }
  });
});

describe("the render engine on the same program", () => {
  it("reports each phase SUCCEEDED only after the progress of every resource of the phase", async () => {
    const settings = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] } });
    const rendered = await renderUnderMocks(acmeSpec("professional", {}, settings), settings);
    const emitted: ProgressEventBody[] = [];
    const tracker = new PhaseTracker((e) => emitted.push(e));
    await walkPlan(planUpdate(rendered.resources, [], 10), tracker, { signal: new AbortController().signal });
    for (const phase of PHASES) {
      const children = rendered.resources.filter((r) => r.phase?.number === phase.number && r.type !== phase.typeToken).length;
      const succeeded = emitted.findIndex((e) => e.type === "phase-succeeded" && e.phase.number === phase.number);
      const lastProgress = emitted.findLastIndex((e) => e.type === "phase-progress" && e.phase.number === phase.number);
      expect(succeeded).toBeGreaterThan(lastProgress);
      expect(emitted[succeeded]).toMatchObject({ resources: { done: children, pending: 0 } });
    }
  });
});
