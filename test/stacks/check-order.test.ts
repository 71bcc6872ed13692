/**
 * Checks run after what they claim to test. On a first run, phase 2's
 * connectivity check Job runs before phase 4 declares the default-deny egress
 * and the database egress rule, so it cannot test them; phase 4's own check
 * must start only once every one of its policies exists. Judged on the
 * rendered dependency graph: a resource waits for what it depends on, and a
 * dependency on a component is one on each of its children.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { renderUnderMocks, type RenderedResource, type RenderResult } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";

const settings = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] } });
const renders = new Map<string, RenderResult>();

beforeAll(async () => {
  for (const tier of TIERS) renders.set(tier, await renderUnderMocks(acmeSpec(tier, {}, settings), settings));
}, 120_000);

/** Everything `urn` waits for before it starts: its dependencies, theirs, and every child of a component among them. */
function waitsFor(resources: readonly RenderedResource[], urn: string): Set<string> {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const children = new Map<string, string[]>();
  for (const r of resources) if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r.urn]);
  const seen = new Set<string>();
  const stack = [...(byUrn.get(urn)?.dependsOn ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const r = byUrn.get(next);
    stack.push(...(r?.dependsOn ?? []), ...(r && !r.custom ? children.get(next) ?? [] : []));
  }
  return seen;
}

const name = (r: RenderedResource) => (r.inputs.metadata as { name: string }).name.replace(/-[0-9a-f]{10}$/, "-<hash>");
const jobs = (r: RenderResult) => r.resources.filter((x) => x.custom && x.inputs.kind === "Job");
const policies = (r: RenderResult) => r.resources.filter((x) => x.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy");

describe.each(TIERS)("the checks of a %s tenant, on the rendered dependency graph", (tier) => {
  it("runs a database check in phase 4 that waits for every NetworkPolicy, default-deny egress included", () => {
    const r = renders.get(tier)!;
    const check = jobs(r).find((j) => name(j) === "database-egress-check-<hash>");
    expect(check, "phase 4's database check").toBeDefined();
    expect(check!.phase?.number).toBe(4);
    const before = waitsFor(r.resources, check!.urn);
    const missing = policies(r).filter((p) => !before.has(p.urn)).map(name);
    expect(missing).toEqual([]);
    expect(policies(r).map(name)).toContain("default-deny-egress");
    expect(policies(r).map(name)).toContain("allow-egress-database");
  });

  it("tests the database through the application URL, as the tenant's services reach it", () => {
    const check = jobs(renders.get(tier)!).find((j) => name(j) === "database-egress-check-<hash>")!;
    const pod = (check.inputs.spec as { template: { spec: { serviceAccountName: string; containers: { command: string[]; env: { name: string; valueFrom?: unknown }[] }[] } } }).template.spec;
    expect(pod.serviceAccountName).toBe("tenant-workload");
    expect(pod.containers[0]!.command).toEqual(["psql", "$(DATABASE_URL)", "-v", "ON_ERROR_STOP=1", "-tAc", "SELECT 1"]);
    expect(pod.containers[0]!.env[0]).toEqual({ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "tenant-database-credentials", key: "DATABASE_URL" } } });
  });

  it("says which Jobs run under every policy: phase 2's run before them on a first run, phase 4's and phase 10's after", () => {
    const r = renders.get(tier)!;
    const underPolicies = Object.fromEntries(jobs(r).map((j) => {
      const before = waitsFor(r.resources, j.urn);
      return [name(j), policies(r).every((p) => before.has(p.urn))];
    }));
    expect(underPolicies).toEqual({
      "tenant-migrate-<hash>": false,
      "database-connectivity-check-<hash>": false,
      "database-egress-check-<hash>": true,
      "observability-check-<hash>": true,
    });
  });
});

describe("phase 4's database check", () => {
  it("is a new Job when the policies change, so the check runs again under the new ones", async () => {
    const base = jobs(renders.get("free")!).find((j) => name(j) === "database-egress-check-<hash>")!;
    const changed = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] }, postgres: { networkCidrs: ["10.30.0.0/24"] } });
    const other = jobs(await renderUnderMocks(acmeSpec("free", {}, changed), changed)).find((j) => name(j) === "database-egress-check-<hash>")!;
    const jobName = (j: RenderedResource) => (j.inputs.metadata as { name: string }).name;
    expect(jobName(base)).toMatch(/^database-egress-check-[0-9a-f]{10}$/);
    expect(jobName(other)).not.toBe(jobName(base));
  });
});
