import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { renderUnderMocks } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";
import { CORE_SERVICES } from "../../components/03-core-services.ts";
import { DATA_SERVICE_DEPENDENCIES, DATA_SERVICES } from "../../components/05-data-services.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { TIER_PROFILES, TIERS } from "../../model/tiers.ts";
import { render } from "../support/fixtures.ts";
import { teardownOrder } from "../support/teardown-order.ts";

type Values = {
  replicaCount: number;
  image: { repository: string; tag: string };
  env: { name: string; value?: string; valueFrom?: unknown }[];
  resources: unknown;
};

const valuesOf = (r: RenderedResource) => r.inputs.values as Values;

describe.each(TIERS)("phase 5 DEPLOY_DATA_SERVICES for a %s tenant", (tier) => {
  it("releases the six data services with the tier's sizes", async () => {
    const r = await render(tier, { lastPhase: 5 });
    expect(DATA_SERVICES).toEqual(["pipeline-service", "semantic-layer", "bi-service", "data-quality-service", "ml-service", "render-service"]);
    for (const service of DATA_SERVICES) {
      const release = r.release(service);
      expect(release.phase?.name).toBe("DEPLOY_DATA_SERVICES");
      expect(release.inputs.chart).toBe(service);
      expect(valuesOf(release).replicaCount).toBe(TIER_PROFILES[tier].dataServices.replicas);
      expect(valuesOf(release).resources).toEqual(TIER_PROFILES[tier].dataServices.resources);
    }
  });

  it("makes each data service depend on exactly the services the seed names", async () => {
    const r = await render(tier, { lastPhase: 5 });
    const releaseUrns = new Map([...CORE_SERVICES, ...DATA_SERVICES].map((s) => [r.release(s).urn, s]));
    for (const service of DATA_SERVICES) {
      const releaseDeps = r.release(service).dependsOn.map((u) => releaseUrns.get(u)).filter((s) => s !== undefined);
      expect(new Set(releaseDeps)).toEqual(new Set(DATA_SERVICE_DEPENDENCIES[service]));
    }
    expect(DATA_SERVICE_DEPENDENCIES).toEqual({
      "pipeline-service": [],
      "semantic-layer": ["catalog-service"],
      "bi-service": ["semantic-layer", "query-engine"],
      "data-quality-service": ["catalog-service"],
      "ml-service": ["query-engine"],
      "render-service": ["bi-service"],
    });
  });

  it("tears the data services down in reverse dependency order, before the core services they use", async () => {
    const r = await render(tier, { lastPhase: 5 });
    const order = teardownOrder(r, [...CORE_SERVICES, ...DATA_SERVICES]);
    const position = (s: string) => order.indexOf(s);
    expect(position("render-service")).toBeLessThan(position("bi-service"));
    expect(position("bi-service")).toBeLessThan(position("semantic-layer"));
    expect(position("bi-service")).toBeLessThan(position("query-engine"));
    expect(position("semantic-layer")).toBeLessThan(position("catalog-service"));
    expect(position("data-quality-service")).toBeLessThan(position("catalog-service"));
    expect(position("ml-service")).toBeLessThan(position("query-engine"));
  });
});

describe("phase 5 reads back every Service of the charts' contract from the cluster", () => {
  /** A render whose mock answers the reads of matih Services with `answer` (null: as the contract says). */
  async function renderWith(answer: (name: string) => Record<string, unknown> | null) {
    const settings = resolvePlatformSettings({});
    const spec = acmeSpec("free", {}, settings);
    const base = cloudMocks(spec, settings);
    const mocks: pulumi.runtime.Mocks = {
      call: (a) => base.call(a),
      newResource(a) {
        const name = a.id?.split("/").pop() ?? "";
        if (a.type === "kubernetes:core/v1:Service" && a.id && a.name.startsWith("data-services-")) {
          const spec = answer(name);
          if (spec) return { id: a.id, state: { metadata: { name }, spec } };
        }
        return base.newResource(a);
      },
    };
    return renderUnderMocks(spec, settings, { lastPhase: 5, mocks });
  }

  it("reads the eleven Services the default charts create, each after the release that creates it", async () => {
    const result = await renderWith(() => null);
    const reads = result.resources.filter((r) => r.read && r.type === "kubernetes:core/v1:Service");
    expect(reads.map((r) => r.name).sort()).toEqual([
      "data-services-ai-service-service", "data-services-api-gateway-service", "data-services-bi-service-service",
      "data-services-bi-workbench-service", "data-services-catalog-service-service", "data-services-data-quality-service-service",
      "data-services-ml-service-service", "data-services-pipeline-service-service", "data-services-query-engine-service",
      "data-services-render-service-service", "data-services-semantic-layer-service",
    ].sort());
    const releaseUrn = (chart: string) => result.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === chart)!.urn;
    const read = (service: string) => reads.find((r) => r.name === `data-services-${service}-service`)!;
    expect(read("api-gateway").dependsOn).toContain(releaseUrn("query-engine"));
    expect(read("bi-workbench").dependsOn).toContain(releaseUrn("bi-service"));
    expect(reads.every((r) => r.phase?.number === 5)).toBe(true);
  });

  it("reads nothing in a teardown's program run, where a read of a phase that never got that far would outlive its deleted parent", async () => {
    const settings = resolvePlatformSettings({});
    const result = await renderUnderMocks(acmeSpec("free", {}, settings), settings, { lastPhase: 5, readBack: false });
    expect(result.resources.filter((r) => r.read)).toEqual([]);
    expect(result.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release")).toHaveLength(9);
  });

  it("fails the phase when a Service serves another port than the contract's, naming the Service, its chart and the ports", async () => {
    await expect(renderWith((name) => (name === "bi-workbench" ? { selector: { app: "bi" }, ports: [{ port: 3001 }] } : null)))
      .rejects.toThrow("Service bi-workbench of chart bi-service serves port 3001, not 3000 as the charts' contract (charts.services) says");
  });

  it("fails the phase when a Service selects no pods", async () => {
    await expect(renderWith((name) => (name === "api-gateway" ? { ports: [{ port: 8080 }] } : null)))
      .rejects.toThrow("Service api-gateway of chart query-engine selects no pods, so nothing would answer on port 8080");
  });
});
