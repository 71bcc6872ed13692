import { describe, expect, it } from "vitest";
import { CORE_SERVICES } from "../../components/03-core-services.ts";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { TIER_PROFILES, TIERS } from "../../model/tiers.ts";
import { render } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";
import { teardownOrder } from "../support/teardown-order.ts";

type Values = {
  replicaCount: number;
  image: { repository: string; tag: string };
  env: { name: string; value?: string; valueFrom?: unknown }[];
  resources: unknown;
};

const valuesOf = (r: RenderedResource) => r.inputs.values as Values;

describe.each(TIERS)("phase 3 DEPLOY_CORE_SERVICES for a %s tenant", (tier) => {
  it("releases query-engine, ai-service and catalog-service from the matih charts with the tenant's values", async () => {
    const r = await render(tier, { lastPhase: 3 });
    const profile = TIER_PROFILES[tier].coreServices;
    for (const service of CORE_SERVICES) {
      const release = r.release(service);
      expect(release.phase?.name).toBe("DEPLOY_CORE_SERVICES");
      expect(release.inputs).toMatchObject({ chart: service, namespace: "matih-acme", repositoryOpts: { repo: "https://charts.matih.ai" }, skipAwait: false });
      const v = valuesOf(release);
      expect(v.replicaCount).toBe(profile.replicas);
      expect(v.image).toEqual({ repository: `matih.azurecr.io/${service}`, tag: "latest" });
      expect(v.env).toEqual([
        { name: "TENANT_ID", value: TENANT_ID },
        { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "tenant-database-credentials", key: "DATABASE_URL" } } },
      ]);
      expect(v.resources).toEqual(profile.resources);
    }
  });

  it("waits for readiness within the seed's 300 seconds", async () => {
    const r = await render(tier, { lastPhase: 3 });
    for (const service of CORE_SERVICES) expect(r.release(service).inputs.timeout).toBe(300);
  });

  it("uninstalls the core releases in reverse order", async () => {
    const r = await render(tier, { lastPhase: 3 });
    expect(teardownOrder(r, CORE_SERVICES)).toEqual(["catalog-service", "ai-service", "query-engine"]);
  });
});

describe("the seed's professional example values", () => {
  it("gives ai-service 250m/512Mi requests and 1000m/1Gi limits", async () => {
    const r = await render("professional", { lastPhase: 3 });
    expect(valuesOf(r.release("ai-service")).resources).toEqual({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1000m", memory: "1Gi" } });
  });

  it("takes per-service image tags from settings", async () => {
    const r = await render("free", { lastPhase: 3, settings: { images: { tags: { "ai-service": "2.4.1" } } } });
    expect(valuesOf(r.release("ai-service")).image.tag).toBe("2.4.1");
    expect(valuesOf(r.release("query-engine")).image.tag).toBe("latest");
  });
});
