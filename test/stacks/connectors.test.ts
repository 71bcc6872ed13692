/**
 * Internet egress for connectors: the seed blocks the internet "except for
 * connector services". Phase 4 opens it to pods labelled
 * `matih.ai/internet-egress: "true"`; this checks that exactly the connector
 * releases set that label, that Helm's own engine puts it on their pods (the
 * local cluster's stand-in chart, which honours `podLabels` as the charts'
 * contract asks), and that the policy selects those pods and no other pod of
 * the tenant.
 */
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { CONNECTOR_SERVICES, INTERNET_EGRESS_LABEL } from "../../components/common.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { renderUnderMocks, type RenderResult } from "../../stacks/mock-render.ts";
import { acmeSpec } from "../support/acme.ts";
import { helmTemplate, sharedChart, type RenderedRelease } from "../support/helm.ts";
import { isAllowed, NAMESPACE_NAME_LABEL, networkPoliciesFromResources, policySelectsPod, type PodEndpoint } from "../support/netpol.ts";

const settings = resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["20.62.1.15/32"] } });
const STAND_IN = fileURLToPath(new URL("../../scripts/local-cluster/charts/stand-in", import.meta.url));
const INTERNET = { kind: "external" as const, ip: "93.184.216.34" };

interface Workload {
  /** `Kind/name` of the program's objects, `helm:<release>` of a release's Deployment. */
  readonly id: string;
  readonly podLabels: Record<string, string>;
}

const renders = new Map<string, RenderResult>();
const charts = new Map<string, RenderedRelease[]>();

beforeAll(async () => {
  for (const tier of TIERS) {
    const r = await renderUnderMocks(acmeSpec(tier, {}, settings), settings);
    renders.set(tier, r);
    const releases = (chart: (c: string) => boolean) => r.resources
      .filter((x) => x.type === "kubernetes:helm.sh/v3:Release" && chart(String(x.inputs.chart)))
      .map((x) => ({ release: String(x.inputs.name), namespace: String(x.inputs.namespace), values: x.inputs.values as Record<string, unknown> }));
    charts.set(tier, [
      ...(await helmTemplate(STAND_IN, releases((c) => c !== "ingress-nginx"))),
      ...(await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), releases((c) => c === "ingress-nginx"))),
    ]);
  }
}, 240_000);

type PodTemplateOwner = { spec?: { template?: { metadata?: { labels?: Record<string, string> } } }; kind: string; metadata: { name: string } };

/** Every pod the tenant runs, by what makes it: the program's Deployments, Jobs and Prometheus, and the Helm-rendered Deployments. */
function workloads(tier: string): Workload[] {
  const r = renders.get(tier)!;
  const own = r.resources.filter((x) => x.custom && !x.read).flatMap((x): Workload[] => {
    const kind = x.inputs.kind as string | undefined;
    const name = (x.inputs.metadata as { name: string } | undefined)?.name;
    if (kind === "Deployment" || kind === "Job") return [{ id: `${kind}/${name}`, podLabels: (x.inputs as unknown as PodTemplateOwner).spec!.template!.metadata!.labels ?? {} }];
    if (kind === "Prometheus") return [{ id: `Prometheus/${name}`, podLabels: (x.inputs.spec as { podMetadata: { labels: Record<string, string> } }).podMetadata.labels }];
    return [];
  });
  const charted = charts.get(tier)!.flatMap((c) => c.objects.filter((o) => o.kind === "Deployment").map((o) => ({
    // By release: the unrenamed stand-in names its Deployment `{release}-matih-stand-in`.
    id: `helm:${c.release}`,
    podLabels: (o as unknown as PodTemplateOwner).spec!.template!.metadata!.labels ?? {},
  })));
  return [...own, ...charted];
}

const podOf = (w: Workload, ip: string): PodEndpoint => ({
  kind: "pod", namespace: "matih-acme", ip, podLabels: w.podLabels,
  namespaceLabels: { [NAMESPACE_NAME_LABEL]: "matih-acme", "matih.ai/tenant-slug": "acme" },
});

describe("connectors: the workloads that may reach the internet", () => {
  it("are pipeline-service alone", () => {
    expect(CONNECTOR_SERVICES).toEqual(["pipeline-service"]);
    expect(INTERNET_EGRESS_LABEL).toBe("matih.ai/internet-egress");
  });

  it.each(TIERS)("%s: the connector release's values carry the label, no other release's do", (tier) => {
    const labelled = renders.get(tier)!.resources
      .filter((x) => x.type === "kubernetes:helm.sh/v3:Release")
      .map((x) => [String(x.inputs.name), ((x.inputs.values as { podLabels?: Record<string, string> }).podLabels ?? {})["matih.ai/internet-egress"] ?? null]);
    expect(labelled.filter(([, v]) => v !== null)).toEqual([["pipeline-service", "true"]]);
    expect(labelled).toHaveLength(10);
  });

  it.each(TIERS)("%s: Helm puts the label on the pipeline-service pods, and the policy selects exactly those of all the tenant's pods", (tier) => {
    const policy = networkPoliciesFromResources(renders.get(tier)!.resources).find((p) => p.metadata.name === "allow-connector-internet-egress")!;
    expect(policy).toBeDefined();
    const all = workloads(tier);
    // Every pod the tenant runs was seen: the nine matih services, the controller, the program's own.
    expect(all.filter((w) => w.id.startsWith("helm:")).length).toBe(10);
    const selected = all.filter((w, i) => policySelectsPod(policy, podOf(w, `10.244.1.${i + 10}`))).map((w) => w.id);
    expect(selected).toEqual(["helm:pipeline-service"]);
  });

  it.each(TIERS)("%s: the pipeline-service pods reach the internet, no other pod of the tenant does", (tier) => {
    const policies = networkPoliciesFromResources(renders.get(tier)!.resources);
    const reach = workloads(tier).filter((w, i) => isAllowed(policies, { from: podOf(w, `10.244.1.${i + 10}`), to: INTERNET, port: 443 })).map((w) => w.id);
    expect(reach).toEqual(["helm:pipeline-service"]);
  });
});
