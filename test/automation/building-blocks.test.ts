import { readdir, rm } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { changedPaths, formatPath } from "../../automation/core/property-paths.ts";
import { deletionOrder, diffResource, planUpdate, stepsInOrder, toResourceChange } from "../../automation/render/steps.ts";
import { faultApplies, validateFaultPlan } from "../../automation/core/fault-plan.ts";
import { FileRenderStateStore, type RenderRecord } from "../../automation/render/store.ts";
import { errorFromInfo, ResourceFailedError, StackLockedError } from "../../automation/core/errors.ts";
import { redactSecrets, plainText } from "../../automation/core/redact.ts";
import { tempDataDir, tenantSpec } from "./helpers/tenants.ts";

const base = "urn:pulumi:acme::matih-tenants::";
function resource(name: string, extra: Partial<RenderedResource> = {}): RenderedResource {
  return {
    urn: `${base}matih:namespace:TenantNamespace$kubernetes:core/v1:ConfigMap::${name}`,
    type: "kubernetes:core/v1:ConfigMap",
    name,
    phase: { number: 1, name: "CREATE_NAMESPACE" },
    parent: null,
    dependsOn: [],
    custom: true,
    read: false,
    provider: null,
    inputs: {},
    outputs: {},
    ...extra,
  };
}

describe("property paths", () => {
  it("writes paths in Pulumi's notation, quoting keys that are not identifiers", () => {
    expect(formatPath(["metadata", "labels", "matih.ai/tier"])).toBe('metadata.labels["matih.ai/tier"]');
    expect(formatPath(["spec", "limits", 0, "default", "cpu"])).toBe("spec.limits[0].default.cpu");
  });

  it("lists the paths where two values differ, down to the leaves, and keys present on one side only", () => {
    const before = { spec: { hard: { pods: "20", "limits.cpu": "4" }, limits: [{ default: { cpu: "100m" } }] }, keep: 1, gone: true };
    const after = { spec: { hard: { pods: "50", "limits.cpu": "4" }, limits: [{ default: { cpu: "250m" } }, { extra: 1 }] }, keep: 1, added: "x" };
    expect(changedPaths(before, after)).toEqual(["added", "gone", "spec.hard.pods", "spec.limits[0].default.cpu", "spec.limits[1]"]);
    expect(changedPaths(before, structuredClone(before))).toEqual([]);
  });
});

describe("planning steps from recorded and desired state", () => {
  it("calls a change to a Kubernetes object's name a replacement and a change to its data an update", () => {
    const old = resource("cfg", { inputs: { metadata: { name: "a" }, data: { k: "1" } } });
    expect(diffResource(old, { ...old, inputs: { metadata: { name: "a" }, data: { k: "2" } } })).toMatchObject({ op: "update", changedPaths: ["data.k"], replaceReasons: [] });
    expect(diffResource(old, { ...old, inputs: { metadata: { name: "b" }, data: { k: "1" } } })).toMatchObject({ op: "replace", changedPaths: ["metadata.name"], replaceReasons: ["metadata.name"] });
  });

  it("sees a changed secret value by its digest and shows the key with [secret] on both sides, never the value", () => {
    const secretInputs = { metadata: { name: "creds" }, stringData: { POSTGRES_HOST: "[secret]", POSTGRES_PASSWORD: "[secret]" } };
    const old = resource("creds", {
      type: "kubernetes:core/v1:Secret",
      inputs: secretInputs,
      secretDigests: [{ path: ["stringData", "POSTGRES_HOST"], digest: "aaa" }, { path: ["stringData", "POSTGRES_PASSWORD"], digest: "ppp" }],
    });
    const desired = { ...old, secretDigests: [{ path: ["stringData", "POSTGRES_HOST"], digest: "bbb" }, { path: ["stringData", "POSTGRES_PASSWORD"], digest: "ppp" }] };
    const [step] = stepsInOrder(planUpdate([desired], [old], 1)).filter((s) => s.resource.name === "creds");
    const change = toResourceChange(step!);
    expect(change).toMatchObject({ op: "update", changedPaths: ['stringData.POSTGRES_HOST'] });
    expect(change.diffs).toEqual([{ path: "stringData.POSTGRES_HOST", old: "[secret]", new: "[secret]" }]);
    expect(diffResource(old, { ...old }).op).toBe("same");
  });

  it("reports each changed path with its value before and after", () => {
    const old = resource("quota", { type: "kubernetes:core/v1:ResourceQuota", inputs: { spec: { hard: { pods: "20", cpu: "2" } } } });
    const desired = { ...old, inputs: { spec: { hard: { pods: "50", cpu: "2", memory: "16Gi" } } } };
    const change = toResourceChange(stepsInOrder(planUpdate([desired], [old], 1)).find((s) => s.resource.name === "quota")!);
    expect(change.diffs).toEqual([{ path: "spec.hard.memory", new: "16Gi" }, { path: "spec.hard.pods", old: "20", new: "50" }]);
  });

  it("deletes each resource only after what depends on it, is parented to it or uses it as provider", () => {
    const provider = resource("provider", { urn: `${base}pulumi:providers:kubernetes::k8s`, type: "pulumi:providers:kubernetes", phase: null });
    const component = resource("component", { urn: `${base}matih:namespace:TenantNamespace::namespace`, type: "matih:namespace:TenantNamespace", custom: false });
    const ns = resource("ns", { parent: component.urn, provider: provider.urn });
    const quota = resource("quota", { parent: component.urn, dependsOn: [ns.urn], provider: provider.urn });
    const role = resource("role", { parent: component.urn, dependsOn: [ns.urn], provider: provider.urn });
    const order = deletionOrder([provider, component, ns, quota, role]).map((r) => r.name);
    expect(order).toEqual(["role", "quota", "ns", "component", "provider"]);
  });

  it("removes phases past lastPhase from the highest down, after applying the ones kept", () => {
    const phase = (n: number, token: string) => resource(`c${n}`, { urn: `${base}${token}::c${n}`, type: token, custom: false, phase: { number: n, name: "CREATE_NAMESPACE" } });
    const c1 = phase(1, "matih:namespace:TenantNamespace");
    const c2 = phase(2, "matih:database:TenantDatabase");
    const c3 = phase(3, "matih:services:CoreServices");
    const plan = planUpdate([c1], [c1, c2, c3], 1);
    expect(plan.apply.map((p) => [p.phase, p.component?.op])).toEqual([[1, "same"]]);
    expect(plan.remove.map((p) => [p.phase, p.action, p.component?.op])).toEqual([[3, "remove", "delete"], [2, "remove", "delete"]]);
  });
});

describe("fault plans", () => {
  it("fails a phase as many times as planned, then lets it through", () => {
    const plan = validateFaultPlan({ 6: { failTimes: 2 } });
    expect([0, 1, 2].map((n) => faultApplies(plan, 6, n) !== null)).toEqual([true, true, false]);
    expect(faultApplies(plan, 5, 0)).toBeNull();
  });

  it("rejects plans that name no phase or never fail", () => {
    expect(() => validateFaultPlan({ 0: { failTimes: 1 } })).toThrow(/phase number/);
    expect(() => validateFaultPlan({ 6: { failTimes: 0 } })).toThrow(/failTimes/);
  });
});

describe("errors across boundaries and secrets", () => {
  it("rebuilds typed errors from their plain form with the original message, phase and resource", () => {
    const original = new ResourceFailedError("no external IP assigned within 600s", { phase: { number: 6, name: "DEPLOY_INGRESS_CONTROLLER" }, urn: "urn:x" });
    const rebuilt = errorFromInfo(JSON.parse(JSON.stringify(original.toInfo())));
    expect(rebuilt).toBeInstanceOf(ResourceFailedError);
    expect(rebuilt.toInfo()).toEqual(original.toInfo());
    expect(errorFromInfo(new StackLockedError("acme", "locked by pid 4242").toInfo()).message).toContain("pid 4242");
  });

  it("redacts secret values and strips engine colour codes", () => {
    expect(redactSecrets("login matih_admin:hunter2-long failed", ["hunter2-long"])).toBe("login matih_admin:[secret] failed");
    expect(plainText("<{%fg 1%}>error<{%reset%}>: \u001b[31mboom\u001b[0m ")).toBe("error: boom");
  });
});

describe("file state store", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDataDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const record = (slug: string, phasesApplied = 1): RenderRecord => ({
    version: 1,
    slug,
    spec: tenantSpec({ slug }),
    lastPhase: 1,
    phasesApplied,
    resources: [resource("cfg")],
    outputs: { namespace: `matih-${slug}` },
    faultAttempts: {},
    updatedAt: "2026-02-12T10:00:00Z",
  });

  it("stores, replaces, lists and deletes records by slug, leaving no temporary files", async () => {
    const store = new FileRenderStateStore(dir);
    expect(await store.get("acme")).toBeUndefined();
    expect(await store.list()).toEqual([]);
    await store.put(record("globex"));
    await store.put(record("acme"));
    await store.put(record("acme", 2));
    expect(await store.get("acme")).toEqual(record("acme", 2));
    expect(await store.list()).toEqual(["acme", "globex"]);
    await store.delete("acme");
    await store.delete("acme");
    expect(await store.list()).toEqual(["globex"]);
    expect(await readdir(dir)).toEqual(["globex.json"]);
  });

  it("refuses slugs that could escape its directory", async () => {
    const store = new FileRenderStateStore(dir);
    await expect(store.get("../etc/passwd")).rejects.toThrow(/not a tenant slug/);
  });
});
