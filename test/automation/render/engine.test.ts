/**
 * The render engine end to end: real worker processes rendering the real
 * tenant program, a file store under a temporary data directory. Assertions
 * are written against what the program renders, so they hold while phases
 * are being added to it.
 */
import { access, mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PHASES } from "../../../model/phases.ts";
import type { RenderedResource } from "../../../stacks/mock-render.ts";
import { TIER_PROFILES } from "../../../model/tiers.ts";
import { DataDirLayout } from "../../../automation/core/data-dir.ts";
import { StackNotFoundError } from "../../../automation/core/errors.ts";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import { formatPath } from "../../../automation/core/property-paths.ts";
import type { FaultPlan } from "../../../automation/core/fault-plan.ts";
import { RenderEngine } from "../../../automation/render/engine.ts";
import type { FleetPreviewEntry } from "../../../automation/render/fleet-preview.ts";
import { FileRenderStateStore, type RenderRecord } from "../../../automation/render/store.ts";
import type { ProgressEvent } from "../../../automation/core/types.ts";
import { platformSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

let dataDir: string;
let layout: DataDirLayout;
let store: FileRenderStateStore;
const runner = new ForkedJobRunner();

beforeEach(async () => {
  dataDir = await tempDataDir();
  layout = new DataDirLayout(dataDir);
  store = new FileRenderStateStore(layout.renderStateDir);
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function engine(options: { faultPlan?: FaultPlan; pace?: number } = {}): RenderEngine {
  return new RenderEngine({ layout, store, runner, gate: new OperationGate({ maxConcurrent: 2 }), operationTimeoutMs: 120_000, ...options });
}

function recorder() {
  const events: ProgressEvent[] = [];
  return { events, onEvent: (e: ProgressEvent) => events.push(e) };
}

/** Phase transitions as [event type, phase number, action], leaving out per-resource progress. */
function transitions(events: readonly ProgressEvent[]): [string, number, string][] {
  return events.flatMap((e) =>
    e.type === "phase-started" || e.type === "phase-succeeded" || e.type === "phase-failed" || e.type === "phase-cancelled" ? [[e.type, e.phase.number, e.action] as [string, number, string]] : [],
  );
}

async function recordOf(slug = "acme"): Promise<RenderRecord> {
  const record = await store.get(slug);
  if (!record) throw new Error(`no record for ${slug}`);
  return record;
}

const byType = (resources: readonly RenderedResource[], type: string) => {
  const found = resources.find((r) => r.type === type);
  if (!found) throw new Error(`no ${type} rendered`);
  return found;
};

describe("render engine", () => {
  it("provisions phase by phase with the same event sequence as a Pulumi up, and records the rendered desired state", async () => {
    const { renderUnderMocks } = await import("../../../stacks/mock-render.ts");
    const spec = tenantSpec();
    const settings = platformSettings();
    const { events, onEvent } = recorder();
    const result = await engine().provision({ spec, settings, onEvent });

    expect(result).toMatchObject({ operation: "provision", engine: "render", slug: "acme", status: "succeeded", lastPhase: PHASES.length, error: null });
    expect(events[0]).toMatchObject({ type: "operation-started", engine: "render", seq: 0 });
    expect(events.at(-1)).toMatchObject({ type: "operation-finished", status: "succeeded" });
    expect(transitions(events)).toEqual(PHASES.flatMap((p) => [["phase-started", p.number, "apply"], ["phase-succeeded", p.number, "apply"]]));

    const rendered = await renderUnderMocks(spec, settings, { lastPhase: PHASES.length });
    const record = await recordOf();
    expect(record.resources).toEqual(rendered.resources);
    expect(record).toMatchObject({ slug: "acme", lastPhase: PHASES.length, phasesApplied: PHASES.length, spec });
    // Resources the program only reads (the ingress controller's Service) count as unchanged.
    const reads = rendered.resources.filter((r) => r.read).length;
    expect(result.changeSummary).toEqual({ create: rendered.resources.length - reads, update: 0, replace: 0, delete: 0, same: reads });
    expect(await engine().outputs("acme")).toEqual(rendered.outputs);

    for (const phase of PHASES) {
      const children = rendered.resources.filter((r) => r.phase?.number === phase.number && r.type !== phase.typeToken).length;
      const succeeded = events.find((e) => e.type === "phase-succeeded" && e.phase.number === phase.number);
      const started = events.find((e) => e.type === "phase-started" && e.phase.number === phase.number);
      expect(started).toMatchObject({ resources: { done: 0, pending: children } });
      expect(succeeded).toMatchObject({ resources: { done: children, pending: 0 } });
    }

    const again = await engine().provision({ spec, settings });
    expect(again.changeSummary).toEqual({ create: 0, update: 0, replace: 0, delete: 0, same: rendered.resources.length });
  });

  it("previews a tier change as the quota values changing and nothing else", async () => {
    const settings = platformSettings();
    await engine().provision({ spec: tenantSpec({ tier: "free" }), settings, lastPhase: 1 });
    const before = await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8");
    const preview = await engine().preview({ spec: tenantSpec({ tier: "professional" }), settings, lastPhase: 1 });

    expect(preview.status).toBe("succeeded");
    const changed = preview.changes.filter((c) => c.op !== "same" && c.op !== "read");
    expect(changed.every((c) => c.op === "update")).toBe(true);
    const quota = changed.find((c) => c.type === "kubernetes:core/v1:ResourceQuota");
    const free = TIER_PROFILES.free.quota!;
    const professional = TIER_PROFILES.professional.quota!;
    const hardKey = { cpuRequest: "requests.cpu", cpuLimit: "limits.cpu", memoryRequest: "requests.memory", memoryLimit: "limits.memory", pods: "pods" } as const;
    const expectedQuotaPaths = (Object.keys(hardKey) as (keyof typeof hardKey)[])
      .filter((k) => free[k] !== professional[k])
      .map((k) => formatPath(["spec", "hard", hardKey[k]]))
      .sort();
    expect(quota?.changedPaths).toEqual(expectedQuotaPaths);
    // Besides the quota, only what carries the tier may change: the namespace's tier label and the container defaults that fit the quota.
    const allowed = (p: string) => p === 'metadata.labels["matih.ai/tier"]' || p.startsWith("spec.limits[0].default") || p.startsWith("spec.hard.") || p.startsWith('spec.hard["');
    expect(changed.flatMap((c) => c.changedPaths).filter((p) => !allowed(p))).toEqual([]);
    expect(changed.map((c) => c.type).sort()).toEqual(["kubernetes:core/v1:LimitRange", "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota"]);
    expect(preview.changeSummary).toMatchObject({ create: 0, replace: 0, delete: 0, update: 3 });
    // A preview writes nothing.
    expect(await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8")).toBe(before);
  });

  it("reports drift as a refresh preview: an edited property with both values and a deleted resource, without writing the record", async () => {
    const settings = platformSettings();
    await engine().provision({ spec: tenantSpec(), settings });
    const record = await recordOf();
    const quota = byType(record.resources, "kubernetes:core/v1:ResourceQuota");
    const serviceAccount = byType(record.resources, "kubernetes:core/v1:ServiceAccount");
    const recordedPods = (quota.inputs.spec as { hard: Record<string, unknown> }).hard.pods;

    const render = engine();
    await render.simulateDrift("acme", { kind: "edit", resource: quota.name, path: "spec.hard.pods", value: "99" });
    await render.simulateDrift("acme", { kind: "delete", resource: serviceAccount.urn });
    const changed = await recordOf();
    expect(changed.resources).toEqual(record.resources);
    expect(changed.actual).toHaveLength(record.resources.length - 1);
    const stored = await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8");

    const drift = await render.driftCheck({ spec: tenantSpec(), settings });
    expect(drift.status).toBe("succeeded");
    const phase1 = { number: 1, name: "CREATE_NAMESPACE" };
    expect([...drift.drifted].sort((a, b) => a.urn.localeCompare(b.urn))).toEqual(
      [
        { urn: quota.urn, type: quota.type, phase: phase1, drift: "changed", properties: ["spec.hard.pods"], differences: [{ path: "spec.hard.pods", recorded: recordedPods, actual: "99" }] },
        { urn: serviceAccount.urn, type: serviceAccount.type, phase: phase1, drift: "gone", properties: [], differences: [] },
      ].sort((a, b) => a.urn.localeCompare(b.urn)),
    );
    expect(drift.changeSummary).toMatchObject({ create: 0, update: 1, delete: 1, replace: 0 });
    expect(await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8")).toBe(stored);

    const unknown = await render.driftCheck({ spec: tenantSpec({ slug: "globex" }), settings });
    expect(unknown.error?.code).toBe("stack_not_found");
  });

  it("redacts secrets in drift values, and a converging provision puts back what drifted so the next check is in sync", async () => {
    const settings = platformSettings();
    const render = engine();
    await render.provision({ spec: tenantSpec(), settings });
    const record = await recordOf();
    const secret = byType(record.resources, "kubernetes:core/v1:Secret");
    // Each stringData value is a Pulumi secret, recorded as "[secret]" under its key; someone overwrites one by hand.
    expect(secret.inputs.stringData).toMatchObject({ POSTGRES_PASSWORD: "[secret]", DATABASE_URL: "[secret]" });
    await render.simulateDrift("acme", { kind: "edit", resource: secret.urn, path: "stringData.POSTGRES_PASSWORD", value: "hunter2-plaintext" });
    const namespace = byType(record.resources, "kubernetes:core/v1:Namespace");
    await render.simulateDrift("acme", { kind: "edit", resource: namespace.urn, path: 'metadata.labels["matih.ai/edited-by"]', value: "someone-by-hand" });

    const drift = await render.driftCheck({ spec: tenantSpec(), settings });
    expect(JSON.stringify(drift)).not.toContain("hunter2-plaintext");
    const secretDrift = drift.drifted.find((d) => d.urn === secret.urn)!;
    expect(secretDrift.differences).toEqual([{ path: "stringData.POSTGRES_PASSWORD", recorded: "[secret]", actual: "[secret]" }]);
    expect(drift.drifted.find((d) => d.urn === namespace.urn)?.differences).toEqual([{ path: 'metadata.labels["matih.ai/edited-by"]', recorded: null, actual: "someone-by-hand" }]);

    const converge = await render.provision({ spec: tenantSpec(), settings });
    expect(converge.status).toBe("succeeded");
    expect(converge.changeSummary).toMatchObject({ update: 2, create: 0, delete: 0 });
    expect((await recordOf()).actual).toBeUndefined();
    const after = await render.driftCheck({ spec: tenantSpec(), settings });
    expect(after.drifted).toEqual([]);
  });

  it("masks secret values a hand edit left in clear in previews and drift checks: a Secret's key, a random password, a recorded secret at an ordinary path, and their copies anywhere (issue 26)", async () => {
    const canaries = { secretKey: "canary-secret-key-Ws61", random: "canary-random-result-Qa27", role: "canary-role-password-Xe90", env: "canary-env-pg-admin-Lm13" };
    const settings = platformSettings();
    const render = new RenderEngine({ layout, store, runner, gate: new OperationGate({ maxConcurrent: 2 }), operationTimeoutMs: 120_000, env: { [settings.postgres.adminPasswordEnv]: canaries.env } });
    await render.provision({ spec: tenantSpec(), settings, lastPhase: 2 });
    const resources = (await recordOf()).resources;
    const named = (type: string) => resources.find((r) => r.type === type && r.custom)!;
    const secret = named("kubernetes:core/v1:Secret");
    const random = named("random:index/randomPassword:RandomPassword");
    const role = named("postgresql:index/role:Role");
    const configMap = named("kubernetes:core/v1:ConfigMap");
    // The role's password is a Pulumi secret at an ordinary-looking path: recorded as the marker.
    expect(role.inputs.password).toBe("[secret]");
    const script = Object.keys(configMap.inputs.data as Record<string, string>)[0]!;
    await render.simulateDrift("acme", { kind: "edit", resource: secret.urn, path: "stringData.POSTGRES_PASSWORD", value: canaries.secretKey });
    await render.simulateDrift("acme", { kind: "edit", resource: random.urn, path: "result", value: canaries.random });
    await render.simulateDrift("acme", { kind: "edit", resource: role.urn, path: "password", value: canaries.role });
    await render.simulateDrift("acme", { kind: "edit", resource: configMap.urn, path: formatPath(["data", script]), value: `-- ${canaries.secretKey} ${canaries.random} ${canaries.role} ${canaries.env}` });

    const preview = await render.preview({ spec: tenantSpec(), settings, lastPhase: 2 });
    const drift = await render.driftCheck({ spec: tenantSpec(), settings });
    for (const [what, result] of [["preview", preview], ["drift check", drift]] as const) {
      for (const canary of Object.values(canaries)) expect(JSON.stringify(result), `${what}: ${canary}`).not.toContain(canary);
    }
    const diffs = (urn: string) => preview.changes.find((c) => c.urn === urn)?.diffs;
    expect(diffs(secret.urn)).toEqual([{ path: "stringData.POSTGRES_PASSWORD", old: "[secret]", new: "[secret]" }]);
    expect(diffs(random.urn)).toEqual([{ path: "result", old: "[secret]" }]);
    expect(diffs(role.urn)).toEqual([{ path: "password", old: "[secret]", new: "[secret]" }]);
    expect(diffs(configMap.urn)).toEqual([{ path: formatPath(["data", script]), old: "-- [secret] [secret] [secret] [secret]", new: (configMap.inputs.data as Record<string, string>)[script] }]);
    const differences = (urn: string) => drift.drifted.find((d) => d.urn === urn)?.differences;
    expect(differences(role.urn)).toEqual([{ path: "password", recorded: "[secret]", actual: "[secret]" }]);
    expect(differences(configMap.urn)).toEqual([{ path: formatPath(["data", script]), recorded: (configMap.inputs.data as Record<string, string>)[script], actual: "-- [secret] [secret] [secret] [secret]" }]);
  });

  it("refuses a drift command on a resource or path that does not exist, naming it", async () => {
    const settings = platformSettings();
    const render = engine();
    await render.provision({ spec: tenantSpec(), settings, lastPhase: 1 });
    const quota = byType((await recordOf()).resources, "kubernetes:core/v1:ResourceQuota");
    await expect(render.simulateDrift("acme", { kind: "delete", resource: "no-such-thing" })).rejects.toThrow('tenant acme has no resource "no-such-thing"');
    await expect(render.simulateDrift("acme", { kind: "edit", resource: quota.urn, path: "spec.nothing.pods", value: 1 })).rejects.toThrow("the property path spec.nothing.pods does not exist: no spec.nothing");
    await expect(render.simulateDrift("globex", { kind: "reset" })).rejects.toThrow(StackNotFoundError);
    await render.simulateDrift("acme", { kind: "delete", resource: quota.urn });
    await render.simulateDrift("acme", { kind: "reset" });
    expect((await render.driftCheck({ spec: tenantSpec(), settings })).drifted).toEqual([]);
  });

  it("tears down in reverse dependency order, phase by phase from the highest, then clears the record, work directory and plans", async () => {
    const settings = platformSettings();
    const render = engine();
    await render.provision({ spec: tenantSpec(), settings });
    await render.preview({ spec: tenantSpec(), settings, savePlan: true });
    await mkdir(layout.workspace("acme"), { recursive: true });
    const record = await recordOf();

    const { events, onEvent } = recorder();
    const result = await render.teardown({ spec: tenantSpec(), settings, onEvent });
    expect(result).toMatchObject({ status: "succeeded", stackRemoved: true, alreadyAbsent: false });
    expect(result.changeSummary).toEqual({ create: 0, update: 0, replace: 0, delete: record.resources.length, same: 0 });

    const recordedPhases = [...new Set(record.resources.flatMap((r) => (r.phase ? [r.phase.number] : [])))].sort((a, b) => b - a);
    expect(transitions(events)).toEqual(recordedPhases.flatMap((n) => [["phase-started", n, "remove"], ["phase-succeeded", n, "remove"]]));

    // The order deletions were reported in: each phase's resources, then its component when the phase succeeds.
    const components = new Map(record.resources.filter((r) => !r.custom && r.phase && r.type === PHASES[r.phase.number - 1]!.typeToken).map((r) => [r.phase!.number, r.urn]));
    const order: string[] = [];
    for (const e of events) {
      if (e.type === "phase-progress") {
        expect(e.resource.op).toBe("delete");
        order.push(e.resource.urn);
      }
      if (e.type === "phase-succeeded" && components.has(e.phase.number)) order.push(components.get(e.phase.number)!);
    }
    const position = new Map(order.map((urn, i) => [urn, i]));
    for (const r of record.resources) {
      if (!position.has(r.urn)) continue;
      for (const needed of [...r.dependsOn, ...(r.parent ? [r.parent] : [])]) {
        if (position.has(needed)) expect(position.get(r.urn)!, `${r.urn} must go before ${needed}`).toBeLessThan(position.get(needed)!);
      }
    }

    expect(await store.get("acme")).toBeUndefined();
    await expect(render.outputs("acme")).rejects.toBeInstanceOf(StackNotFoundError);
    await expect(access(layout.workspace("acme"))).rejects.toThrow();
    await expect(access(layout.plansDir("acme"))).rejects.toThrow();
    expect(await render.teardown({ spec: tenantSpec(), settings })).toMatchObject({ status: "succeeded", alreadyAbsent: true });
  });

  it("follows a fault plan: phase 6 fails on two separate provisions, each continuing from the last, then succeeds", async () => {
    const faultPlan = { 6: { failTimes: 2, message: "no external IP assigned within 600s" } };
    const settings = platformSettings();

    const { events, onEvent } = recorder();
    const first = await engine({ faultPlan }).provision({ spec: tenantSpec(), settings, onEvent });
    expect(first.status).toBe("failed");
    expect(first.error).toMatchObject({ code: "resource_failed", retryable: true, phase: { number: 6, name: "DEPLOY_INGRESS_CONTROLLER" }, message: "no external IP assigned within 600s" });
    expect(transitions(events)).toEqual([
      ...[1, 2, 3, 4, 5].flatMap((n) => [["phase-started", n, "apply"], ["phase-succeeded", n, "apply"]]),
      ["phase-started", 6, "apply"],
      ["phase-failed", 6, "apply"],
    ]);
    expect(events.find((e) => e.type === "phase-failed")).toMatchObject({ failure: { message: "no external IP assigned within 600s", injected: true } });
    expect(await recordOf()).toMatchObject({ phasesApplied: 5, faultAttempts: { 6: 1 } });

    // A new engine instance: the attempt count lives in the store, not in memory.
    const second = await engine({ faultPlan }).provision({ spec: tenantSpec(), settings });
    expect(second.error?.phase?.number).toBe(6);
    expect(second.changeSummary.create).toBe(0); // everything before the failing step was already recorded
    expect(await recordOf()).toMatchObject({ phasesApplied: 5, faultAttempts: { 6: 2 } });

    const third = await engine({ faultPlan }).provision({ spec: tenantSpec(), settings });
    expect(third.status).toBe("succeeded");
    expect(third.phases.map((p) => [p.phase.number, p.status])).toEqual(PHASES.map((p) => [p.number, "succeeded"]));
    expect(await recordOf()).toMatchObject({ phasesApplied: PHASES.length });
  });

  it("holds a provision to a saved plan, and refuses one that no longer matches what would run", async () => {
    const settings = platformSettings();
    const render = engine();
    const reviewed = await render.preview({ spec: tenantSpec(), settings, lastPhase: 2, savePlan: true });
    expect(reviewed.plan).toMatchObject({ slug: "acme", engine: "render", lastPhase: 2 });
    expect(path.dirname(reviewed.plan!.file)).toBe(layout.plansDir("acme"));
    const held = await render.provision({ spec: tenantSpec(), settings, plan: reviewed.plan! });
    expect(held).toMatchObject({ status: "succeeded", lastPhase: 2 });

    const stale = await render.preview({ spec: tenantSpec(), settings, lastPhase: 2, savePlan: true });
    const before = await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8");
    const changed = await render.provision({ spec: tenantSpec({ tier: "professional" }), settings, plan: stale.plan! });
    expect(changed.status).toBe("failed");
    expect(changed.error?.code).toBe("plan_mismatch");
    expect(await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8")).toBe(before);
  });

  it("applies a plan another process saved in its own data directory, from the plan's contents, and refuses them changed", async () => {
    const settings = platformSettings();
    // Another service process: its own data directory, the same record store (the service's is in Postgres).
    const otherDir = await tempDataDir();
    try {
      const other = new RenderEngine({ layout: new DataDirLayout(otherDir), store, runner, gate: new OperationGate({ maxConcurrent: 2 }), operationTimeoutMs: 120_000 });
      await other.provision({ spec: tenantSpec(), settings, lastPhase: 2 });
      const reviewed = await other.preview({ spec: tenantSpec({ tier: "professional" }), settings, lastPhase: 2, savePlan: true });
      expect(reviewed.plan!.content).toBe(await readFile(reviewed.plan!.file, "utf8"));
      await rm(otherDir, { recursive: true, force: true });

      const tampered = await engine().provision({ spec: tenantSpec({ tier: "professional" }), settings, plan: { ...reviewed.plan!, content: reviewed.plan!.content!.replace(/"desired": "[0-9a-f]/, '"desired": "x') } });
      expect(tampered.error?.code).toBe("plan_mismatch");
      const held = await engine().provision({ spec: tenantSpec({ tier: "professional" }), settings, plan: reviewed.plan! });
      expect(held.error).toBeNull();
      expect(held).toMatchObject({ status: "succeeded", lastPhase: 2 });
      expect(await readFile(layout.planFile("acme", reviewed.plan!.id), "utf8")).toBe(reviewed.plan!.content);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it("in resume mode holds a partly applied plan to its reviewed end state, not to the state it started from", async () => {
    const settings = platformSettings();
    const render = engine();
    await render.provision({ spec: tenantSpec(), settings, lastPhase: 3 });
    const reviewed = await render.preview({ spec: tenantSpec({ tier: "professional" }), settings, lastPhase: 3, savePlan: true });
    // Part of the reviewed update runs (phases 1-2), as a failed attempt would leave it.
    await render.provision({ spec: tenantSpec({ tier: "professional" }), settings, lastPhase: 2 });
    const exact = await render.provision({ spec: tenantSpec({ tier: "professional" }), settings, plan: reviewed.plan! });
    expect(exact.error?.code).toBe("plan_mismatch");
    const resumed = await render.provision({ spec: tenantSpec({ tier: "professional" }), settings, plan: reviewed.plan!, planMode: "resume" });
    expect(resumed).toMatchObject({ status: "succeeded", lastPhase: 3 });
    // A different end state than the one reviewed is still refused.
    const again = await render.preview({ spec: tenantSpec({ tier: "professional" }), settings, lastPhase: 3, savePlan: true });
    const other = await render.provision({ spec: tenantSpec({ tier: "enterprise" }), settings, plan: again.plan!, planMode: "resume" });
    expect(other.error?.code).toBe("plan_mismatch");
  });

  it("stops a paced provision when cancelled, keeping the phases it completed", async () => {
    const controller = new AbortController();
    const { events, onEvent } = recorder();
    const result = await engine({ pace: 0.0001 }).provision({
      spec: tenantSpec(),
      settings: platformSettings(),
      signal: controller.signal,
      onEvent: (e) => {
        onEvent(e);
        if (e.type === "phase-succeeded" && e.phase.number === 2) controller.abort();
      },
    });
    expect(result.status).toBe("cancelled");
    expect(result.error?.code).toBe("operation_cancelled");
    expect(transitions(events).at(-1)).toEqual(["phase-cancelled", 3, "apply"]);
    expect(await recordOf()).toMatchObject({ phasesApplied: 2 });
  });

  it("previews a settings change across the fleet without changing any record", async () => {
    const settings = platformSettings();
    const render = engine();
    await render.provision({ spec: tenantSpec({ slug: "acme" }), settings });
    await render.provision({ spec: tenantSpec({ slug: "globex", id: "6f1c2e3a-0b1d-4c5e-8f9a-1b2c3d4e5f60", tier: "professional" }), settings });
    const before = [await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8"), await readFile(path.join(layout.renderStateDir, "globex.json"), "utf8")];

    const fleet = await render.previewFleet(platformSettings({ images: { defaultTag: "2.0.0" } }));
    expect(fleet.map((f) => f.slug)).toEqual(["acme", "globex"]);
    for (const entry of fleet) {
      expect(entry.ok).toBe(true);
      if (!entry.ok) continue;
      const changed = entry.changes.filter((c) => c.op !== "same" && c.op !== "read");
      expect(changed.length).toBeGreaterThan(0);
      expect(changed.every((c) => c.op === "update" || c.op === "replace")).toBe(true);
      // Images are not used by the namespace phase.
      expect(changed.filter((c) => c.phase?.number === 1)).toEqual([]);
    }
    expect([await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8"), await readFile(path.join(layout.renderStateDir, "globex.json"), "utf8")]).toEqual(before);
  });

  it("previews a fleet larger than one job in chunks, as many at once as it may, with the answer of a preview one chunk at a time", async () => {
    const settings = platformSettings();
    await engine().provision({ spec: tenantSpec({ slug: "acme" }), settings });
    // 29 copies of acme's record, its slug replaced everywhere (spec, URNs, names): 30 tenants, two chunks.
    const text = await readFile(path.join(layout.renderStateDir, "acme.json"), "utf8");
    for (let i = 1; i < 30; i++) await store.put(JSON.parse(text.replaceAll("acme", `acme${String(i).padStart(2, "0")}`)) as RenderRecord);
    let running = 0;
    let mostAtOnce = 0;
    const rendersPerJob: number[] = [];
    const counting = {
      async run(job: Parameters<ForkedJobRunner["run"]>[0], options: Parameters<ForkedJobRunner["run"]>[1]) {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        if (job.kind === "fleet-preview") rendersPerJob.push(job.records.length);
        try {
          return await runner.run(job, options);
        } finally {
          running -= 1;
        }
      },
    };
    const fleetEngine = (fleetParallelism: number) =>
      new RenderEngine({ layout, store, runner: counting, gate: new OperationGate({ maxConcurrent: 2 }), operationTimeoutMs: 120_000, fleetParallelism });
    const changed = platformSettings({ images: { defaultTag: "2.0.0" } });

    const parallel = await fleetEngine(2).previewFleet(changed);
    expect(mostAtOnce).toBe(2);
    expect(rendersPerJob.sort((a, b) => a - b)).toEqual([5, 25]);
    expect(parallel.map((e) => e.slug)).toEqual(["acme", ...Array.from({ length: 29 }, (_, i) => `acme${String(i + 1).padStart(2, "0")}`)]);
    expect(parallel.every((e) => e.ok && e.changes.some((c) => c.op === "update"))).toBe(true);

    mostAtOnce = 0;
    const serial = await fleetEngine(1).previewFleet(changed);
    expect(mostAtOnce).toBe(1);
    expect(parallel).toEqual(serial);

    // Handed over chunk by chunk instead, nothing is kept: the same entries arrive, and the answer is empty.
    const handed: FleetPreviewEntry[][] = [];
    const streamed = await fleetEngine(2).previewFleet(changed, { onEntries: (entries) => handed.push(entries) });
    expect(streamed).toEqual([]);
    expect(handed.map((entries) => entries.length).sort((a, b) => a - b)).toEqual([5, 25]);
    expect(handed.flat().sort((a, b) => a.slug.localeCompare(b.slug))).toEqual(serial);
  });
});
