/**
 * Every await of a real run must be able to end. The Kubernetes provider
 * waits for an Ingress's backend Services, a Service's ready pods, a Job's
 * completion and a Certificate's Ready condition; Helm waits for a release's
 * pods. Under the mock runtime none of that happens, so this check reads the
 * rendered program (with the real Helm engine's render of ingress-nginx) and
 * asks, for each await, whether what it waits for is declared by then.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS, type Tier } from "../../model/tiers.ts";
import { renderUnderMocks, type RenderResult } from "../../stacks/mock-render.ts";
import { unsatisfiedAwaits, type AwaitContext } from "../support/awaits.ts";
import { acmeSpec } from "../support/acme.ts";
import { helmTemplate, sharedChart, type ManifestObject } from "../support/helm.ts";

const settings = resolvePlatformSettings({
  kubernetes: { apiServerCidrs: ["20.62.1.15/32"] },
  alerts: { slackWebhookSecret: { namespace: "matih-monitoring", name: "slack-webhook", key: "url" } },
});
const renders = new Map<Tier, RenderResult>();
const charts = new Map<string, readonly ManifestObject[]>();
const context = (): AwaitContext => ({ chartServices: settings.charts.services, clusterIssuers: [settings.tls.clusterIssuer], charts });

beforeAll(async () => {
  for (const tier of TIERS) renders.set(tier, await renderUnderMocks(acmeSpec(tier, { slug: `acme-${tier}` }, settings), settings));
  const releases = [...renders.values()].map((r) => r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "ingress-nginx")!)
    .map((x) => ({ release: String(x.inputs.name), namespace: String(x.inputs.namespace), values: x.inputs.values as Record<string, unknown> }));
  for (const r of await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), releases)) charts.set(`${r.namespace}/${r.release}`, r.objects);
}, 120_000);

/** A copy of a render with one resource's inputs changed, to show the check sees the change. */
function altered(r: RenderResult, match: (inputs: Record<string, any>, type: string) => boolean, change: (inputs: Record<string, any>) => void): RenderResult {
  const copy = structuredClone(r) as RenderResult;
  const target = copy.resources.find((x) => match(x.inputs as Record<string, any>, x.type));
  if (!target) throw new Error("nothing to alter");
  change(target.inputs as Record<string, any>);
  return copy;
}

describe.each(TIERS)("the awaits of a %s tenant's real run", (tier) => {
  it("can all end: Ingress backends, Service selectors, Jobs, Certificates and the Secrets, ConfigMaps and ServiceAccounts pods need are declared by then", () => {
    expect(unsatisfiedAwaits(renders.get(tier)!, context())).toEqual([]);
  });

  it("include the ones that matter: an Ingress, Jobs, a Certificate and the chart's controller Service", () => {
    const r = renders.get(tier)!;
    const kinds = r.resources.map((x) => x.inputs.kind);
    expect(kinds).toContain("Ingress");
    // Migrations and the connectivity check (phase 2), the database check under the policies (phase 4), the pipeline check (phase 10).
    expect(kinds.filter((k) => k === "Job").length).toBe(4);
    expect(kinds).toContain("Certificate");
    expect([...charts.values()].flat().some((o) => o.kind === "Service" && o.metadata.name.endsWith("-controller"))).toBe(true);
  });
});

describe("the awaits check itself", () => {
  it("sees an Ingress backend that no earlier phase provides (the Ingress would wait forever)", () => {
    const r = altered(renders.get("free")!, (i) => i.kind === "Ingress", (i) => { i.spec.rules[0].http.paths[0].backend.service.name = "api-gateway-v2"; });
    expect(unsatisfiedAwaits(r, context())).toEqual([expect.stringMatching(/^Ingress matih-acme-free\/tenant-ingress routes acme-free\.matih\.ai\/api to Service api-gateway-v2:8080, which no earlier phase creates or declares$/)]);
  });

  it("sees the seed's backends without the charts' contract, as on the code before it", () => {
    expect(unsatisfiedAwaits(renders.get("free")!, { ...context(), chartServices: {} })).toEqual([
      expect.stringContaining("to Service api-gateway:8080, which no earlier phase"),
      expect.stringContaining("to Service bi-workbench:3000, which no earlier phase"),
    ]);
  });

  it("sees a Service whose selector matches no pods", () => {
    const r = altered(renders.get("professional")!, (i) => i.kind === "Service" && i.metadata.name === "pgbouncer", (i) => { i.spec.selector["app.kubernetes.io/name"] = "pg-bouncer"; });
    expect(unsatisfiedAwaits(r, context())).toEqual([expect.stringMatching(/^Service matih-acme-professional\/pgbouncer selects .*pg-bouncer.*, which no declared workload's pods carry$/)]);
  });

  it("sees a Job with nothing to run, and one that reads a Secret nobody declares", () => {
    const r = altered(renders.get("free")!, (i) => i.kind === "Job" && i.metadata.name.startsWith("database-connectivity-check-"), (i) => {
      const c = i.spec.template.spec.containers[0];
      delete c.command;
      c.env[0].valueFrom.secretKeyRef.name = "tenant-db-credentials";
    });
    const problems = unsatisfiedAwaits(r, context());
    expect(problems).toContainEqual(expect.stringMatching(/^Job matih-acme-free\/database-connectivity-check-[0-9a-f]+ container psql names no command or args$/));
    expect(problems).toContainEqual(expect.stringMatching(/reads Secret tenant-db-credentials, which is not declared by then$/));
  });

  it("sees a Certificate asking for an issuer the platform does not run", () => {
    expect(unsatisfiedAwaits(renders.get("enterprise")!, { ...context(), clusterIssuers: ["letsencrypt-staging-dns01"] })).toEqual([
      "Certificate matih-acme-enterprise/acme-enterprise-tls-certificate asks ClusterIssuer letsencrypt-prod-dns01, which the platform does not declare",
    ]);
  });
});
