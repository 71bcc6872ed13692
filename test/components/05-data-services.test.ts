import { describe, expect, it } from "vitest";
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
