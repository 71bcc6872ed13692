import { describe, expect, it } from "vitest";
import { PHASES, phaseByNumber, phaseOfUrn } from "../../model/phases.ts";
import { resolveLastPhase } from "../../stacks/tenant-program.ts";
import { TIERS } from "../../model/tiers.ts";
import { render, transitiveDependencies } from "../support/fixtures.ts";

describe("the phase table", () => {
  it("lists the seed's ten phases in order with their typical durations", () => {
    expect(PHASES.map((p) => [p.number, p.name, p.typicalSeconds])).toEqual([
      [1, "CREATE_NAMESPACE", [5, 30]],
      [2, "SETUP_DATABASE", [30, 120]],
      [3, "DEPLOY_CORE_SERVICES", [60, 300]],
      [4, "CONFIGURE_NETWORKING", [10, 30]],
      [5, "DEPLOY_DATA_SERVICES", [60, 300]],
      [6, "DEPLOY_INGRESS_CONTROLLER", [30, 120]],
      [7, "CREATE_DNS_ZONE", [10, 60]],
      [8, "CREATE_TENANT_INGRESS", [10, 30]],
      [9, "DEPLOY_MONITORING", [30, 60]],
      [10, "SETUP_OBSERVABILITY", [10, 30]],
    ]);
    expect(new Set(PHASES.map((p) => p.typeToken)).size).toBe(10);
  });

  it("maps a URN to the innermost phase in its type chain", () => {
    expect(phaseOfUrn("urn:pulumi:acme::matih-tenants::matih:dns:TenantDnsZone$azure-native:dns:RecordSet::dns-a-api")?.number).toBe(7);
    expect(phaseOfUrn("urn:pulumi:acme::matih-tenants::pulumi:providers:kubernetes::kubernetes")).toBeNull();
  });

  it("refuses phase numbers outside 1 to 10", () => {
    expect(() => phaseByNumber(0)).toThrow(/from 1 to 10/);
    expect(() => resolveLastPhase(11)).toThrow("lastPhase must be a whole number from 1 to 10, got 11");
    expect(() => resolveLastPhase(2.5)).toThrow(/whole number/);
    expect(resolveLastPhase(undefined)).toBe(10);
  });
});

describe.each(TIERS)("the program for a %s tenant", (tier) => {
  it("declares one component per phase, in order, each with the phase's type token", async () => {
    const r = await render(tier);
    const components = r.resources.filter((x) => !x.custom);
    expect(components.map((c) => c.type)).toEqual(PHASES.map((p) => p.typeToken));
    expect(components.map((c) => c.phase?.number)).toEqual(PHASES.map((p) => p.number));
  });

  it("makes every resource of a phase wait for every resource of the phase before it", async () => {
    const r = await render(tier);
    const custom = r.resources.filter((x) => x.custom && x.phase && !x.read);
    for (const phase of PHASES.slice(1)) {
      const previous = custom.filter((x) => x.phase!.number === phase.number - 1).map((x) => x.urn);
      for (const resource of custom.filter((x) => x.phase!.number === phase.number)) {
        const deps = transitiveDependencies(r.resources, resource.urn);
        const missing = previous.filter((u) => !deps.has(u));
        expect(missing, `${resource.name} (phase ${phase.number}) does not wait for`).toEqual([]);
      }
    }
  });

  it("parents every resource to its phase component and gives Kubernetes and Azure resources an explicit provider", async () => {
    const r = await render(tier);
    for (const x of r.resources.filter((x) => x.custom && !x.type.startsWith("pulumi:providers:"))) {
      expect(x.phase, x.name).not.toBeNull();
      expect(x.parent, x.name).toMatch(/::matih:/);
      if (x.type.startsWith("kubernetes:") || x.type.startsWith("azure-native:") || x.type.startsWith("postgresql:")) {
        expect(x.provider, x.name).toMatch(/pulumi:providers:(kubernetes|azure-native|postgresql)::/);
      }
    }
  });

  it.each([1, 3, 6, 9])("stops after phase %i when asked, so that a rollback is an update with fewer phases", async (last) => {
    const r = await render(tier, { lastPhase: last });
    const phases = new Set(r.resources.filter((x) => x.phase).map((x) => x.phase!.number));
    expect(Math.max(...phases)).toBe(last);
    expect(phases.size).toBe(last);
    expect(r.lastPhase).toBe(last);
  });

  it("exports the tenant's outputs without any secret", async () => {
    const r = await render(tier);
    expect(r.outputs).toMatchObject({
      namespace: "matih-acme",
      credentialsSecretName: "tenant-database-credentials",
      zoneName: "acme.matih.ai",
      urls: { api: "https://acme.matih.ai/api", bi: "https://bi.acme.matih.ai" },
    });
    expect(r.outputs.loadBalancerIp).toMatch(/^203\.0\.113\.\d+$/);
    expect(r.outputs.zoneNameServers).toHaveLength(4);
    expect(JSON.stringify(r.outputs)).not.toMatch(/render-|\[secret\]|password/i);
  });
});

it("renders the same resources for the same spec twice", async () => {
  const { renderUnderMocks } = await import("../../stacks/mock-render.ts");
  const { acmeSpec } = await import("../support/acme.ts");
  const { resolvePlatformSettings } = await import("../../model/settings.ts");
  const settings = resolvePlatformSettings();
  const a = await renderUnderMocks(acmeSpec("professional"), settings);
  const b = await renderUnderMocks(acmeSpec("professional"), settings);
  expect(JSON.stringify(b.resources)).toBe(JSON.stringify(a.resources));
});

describe("a program that fails while rendering", () => {
  it("fails the render with the reason instead of returning a partial one", async () => {
    const { renderUnderMocks, RenderFailedError } = await import("../../stacks/mock-render.ts");
    const { cloudMocks } = await import("../../stacks/cloud-mocks.ts");
    const { acmeSpec } = await import("../support/acme.ts");
    const { resolvePlatformSettings } = await import("../../model/settings.ts");
    const defaults = cloudMocks({ slug: "acme" });
    // A cloud whose load balancer never gets an address.
    const noIp = {
      call: defaults.call,
      newResource(args: Parameters<typeof defaults.newResource>[0]) {
        if (args.type === "kubernetes:core/v1:Service" && args.id && args.name.startsWith("ingress-controller-")) return { id: args.id, state: { status: { loadBalancer: {} } } };
        return defaults.newResource(args);
      },
    };
    const settings = resolvePlatformSettings();
    const failure = await renderUnderMocks(acmeSpec("free"), settings, { mocks: noIp }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RenderFailedError);
    expect((failure as Error).message).toContain("no external IP assigned to ingress-nginx-acme-controller within 600s");
    // Rendering up to phase 5 does not reach the load balancer and succeeds on the same cloud.
    const early = await renderUnderMocks(acmeSpec("free"), settings, { mocks: noIp, lastPhase: 5 });
    expect(early.lastPhase).toBe(5);
  });
});
