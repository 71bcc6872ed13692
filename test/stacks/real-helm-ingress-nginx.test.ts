/**
 * The ingress-nginx chart the program installs (the public chart, unmodified,
 * from ../shared/charts), rendered by Helm's own engine with the exact values
 * the program passes, for several tenants in one cluster. The mock runtime
 * accepts any values; Helm and the API server do not.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { renderUnderMocks, type RenderResult } from "../../stacks/mock-render.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { namespaceName, validateTenantSpec, type TenantSpec } from "../../model/spec.ts";
import { ingressControllerFullname } from "../../components/06-ingress-controller.ts";
import type { Tier } from "../../model/tiers.ts";
import { helmTemplate, isClusterScoped, sharedChart, type ManifestObject, type RenderedRelease } from "../support/helm.ts";
import { isAllowed, NAMESPACE_NAME_LABEL, networkPoliciesFromResources, type NetworkPolicy, type PodEndpoint } from "../support/netpol.ts";

// Two 54-character slugs (the longest allowed) that differ only at the end: names cut to 63 characters must still differ.
const LONG_A = "northwind-traders-international-holdings-analytics-aa1";
const LONG_B = "northwind-traders-international-holdings-analytics-bb2";
const TENANTS: { slug: string; tier: Tier; region: string }[] = [
  { slug: "acme", tier: "free", region: "eastus" },
  { slug: "globex", tier: "professional", region: "westeurope" },
  { slug: "initech", tier: "enterprise", region: "eastus" },
  { slug: LONG_A, tier: "professional", region: "japaneast" },
  { slug: LONG_B, tier: "enterprise", region: "japaneast" },
];

const settings = resolvePlatformSettings({
  kubernetes: { apiServerCidrs: ["20.62.1.15/32"] },
  // LONG_B's dedicated server joins a delegated subnet of its own region (the default one is in eastus).
  azure: { databaseSubnets: { japaneast: { subnetId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/matih-network/providers/Microsoft.Network/virtualNetworks/matih-japaneast/subnets/tenant-databases", subnetCidr: "10.22.1.0/24" } } },
});

interface Tenant {
  spec: TenantSpec;
  render: RenderResult;
  /** IDs (`namespace/name`) of the Services the program reads. */
  serviceReads: string[];
  chart: RenderedRelease;
}

const tenants: Tenant[] = [];

function specOf(t: (typeof TENANTS)[number], i: number): TenantSpec {
  return validateTenantSpec({
    id: `550e8400-e29b-41d4-a716-44665544000${i}`,
    slug: t.slug,
    displayName: t.slug,
    tier: t.tier,
    region: t.region,
    adminEmail: `admin@${t.slug.slice(0, 20)}.example`,
    requestedBy: "ops@matih.ai",
    requestedAt: "2026-02-12T10:00:00Z",
  }, { baseDomain: settings.baseDomain });
}

beforeAll(async () => {
  const partial: Omit<Tenant, "chart">[] = [];
  for (const [i, t] of TENANTS.entries()) {
    const spec = specOf(t, i);
    const serviceReads: string[] = [];
    const base = cloudMocks(spec, settings);
    const mocks: pulumi.runtime.Mocks = {
      call: (a) => base.call(a),
      newResource(a) {
        // Phase 6's read of the controller Service (phase 5 also reads the matih charts' Services, by name).
        if (a.type === "kubernetes:core/v1:Service" && a.id && a.name.startsWith("ingress-controller-")) serviceReads.push(a.id);
        return base.newResource(a);
      },
    };
    partial.push({ spec, render: await renderUnderMocks(spec, settings, { lastPhase: 6, mocks }), serviceReads });
  }
  const releases = partial.map((p) => {
    const release = p.render.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "ingress-nginx");
    if (!release) throw new Error(`${p.spec.slug}: no ingress-nginx release in the render`);
    expect(release.inputs.version).toBe("4.12.1");
    return { release: String(release.inputs.name), namespace: String(release.inputs.namespace), values: release.inputs.values as Record<string, unknown> };
  });
  const charts = await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), releases);
  partial.forEach((p, i) => tenants.push({ ...p, chart: charts[i]! }));
}, 120_000);

const ofKind = (t: Tenant, kind: string) => t.chart.objects.filter((o) => o.kind === kind);
const controllerDeployment = (t: Tenant): ManifestObject => {
  const list = ofKind(t, "Deployment");
  expect(list).toHaveLength(1);
  return list[0]!;
};
const podLabels = (d: ManifestObject) => (d as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
const controllerArgs = (d: ManifestObject) => (d as { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec.template.spec.containers[0]!.args;

describe("the real ingress-nginx 4.12.1 chart with the program's values, five tenants in one cluster", () => {
  it("renders one cluster-scoped object per tenant, its IngressClass: the chart's RBAC is namespaced (rbac.scope), so no ClusterRole reads every namespace", () => {
    for (const t of tenants) {
      const kinds = t.chart.objects.filter((o) => isClusterScoped(o.kind)).map((o) => o.kind).sort();
      expect(kinds).toEqual(["IngressClass"]);
      const roles = t.chart.objects.filter((o) => o.kind === "Role").map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
      expect(roles).toEqual([`${namespaceName(t.spec.slug)}/${ingressControllerFullname(t.spec.slug)}`]);
    }
  });

  it("gives no two tenants the same cluster-scoped object, which Helm would refuse to import into a second release", () => {
    const owners = new Map<string, string[]>();
    for (const t of tenants) {
      for (const o of t.chart.objects.filter((x) => isClusterScoped(x.kind))) {
        const key = `${o.kind}/${o.metadata.name}`;
        owners.set(key, [...(owners.get(key) ?? []), t.spec.slug]);
      }
    }
    const shared = [...owners].filter(([, slugs]) => slugs.length > 1).map(([key, slugs]) => `${key}: ${slugs.join(", ")}`);
    expect(shared).toEqual([]);
  });

  it("keeps every cluster-scoped name a valid Kubernetes name of at most 63 characters", () => {
    for (const t of tenants) {
      for (const o of t.chart.objects.filter((x) => isClusterScoped(x.kind))) expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
  });

  it("puts every namespaced object in the tenant's own namespace", () => {
    for (const t of tenants) {
      for (const o of t.chart.objects.filter((x) => !isClusterScoped(x.kind))) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(namespaceName(t.spec.slug));
    }
  });

  it("creates the IngressClass nginx-{slug} with controller k8s.io/ingress-nginx-{slug}, and the controller serves exactly that class in its own namespace", () => {
    for (const t of tenants) {
      const classes = ofKind(t, "IngressClass");
      expect(classes.map((c) => c.metadata.name)).toEqual([`nginx-${t.spec.slug}`]);
      expect((classes[0] as { spec: { controller: string } }).spec.controller).toBe(`k8s.io/ingress-nginx-${t.spec.slug}`);
      expect(classes[0]!.metadata.annotations?.["ingressclass.kubernetes.io/is-default-class"]).not.toBe("true");
      const args = controllerArgs(controllerDeployment(t));
      expect(args).toContain(`--ingress-class=nginx-${t.spec.slug}`);
      expect(args).toContain(`--controller-class=k8s.io/ingress-nginx-${t.spec.slug}`);
      expect(args).toContain(`--watch-namespace=${namespaceName(t.spec.slug)}`);
    }
  });

  it("has the Service the program reads for the load-balancer IP, of type LoadBalancer, under exactly the name it reads", () => {
    for (const t of tenants) {
      expect(t.serviceReads).toHaveLength(1);
      const [namespace, name] = t.serviceReads[0]!.split("/");
      const service = t.chart.objects.find((o) => o.kind === "Service" && o.metadata.name === name && o.metadata.namespace === namespace);
      expect(service, `Service ${t.serviceReads[0]} in the chart output`).toBeDefined();
      expect((service as { spec: { type: string } }).spec.type).toBe("LoadBalancer");
      expect(t.chart.objects.find((o) => o.kind === "Deployment")!.metadata.name).toBe(`${name}`);
    }
  });

  it("publishes the status of the very Service the program reads (publish-service)", () => {
    for (const t of tenants) {
      const args = controllerArgs(controllerDeployment(t)).map((a) => a.replace("$(POD_NAMESPACE)", namespaceName(t.spec.slug)));
      expect(args).toContain(`--publish-service=${t.serviceReads[0]}`);
    }
  });

  it("labels the controller pods so the tenant's NetworkPolicies let clients in, let it reach the services and the API server, and keep other tenants' controllers out", () => {
    const policies: NetworkPolicy[] = tenants.flatMap((t) => networkPoliciesFromResources(t.render.resources));
    const namespaceLabels = (t: Tenant) => {
      const ns = t.render.resources.find((r) => r.type === "kubernetes:core/v1:Namespace")!;
      return { ...(ns.inputs.metadata as { labels: Record<string, string> }).labels, [NAMESPACE_NAME_LABEL]: namespaceName(t.spec.slug) };
    };
    const controllerPod = (t: Tenant, ip: string): PodEndpoint => ({ kind: "pod", namespace: namespaceName(t.spec.slug), namespaceLabels: namespaceLabels(t), podLabels: podLabels(controllerDeployment(t)), ip });
    const servicePod = (t: Tenant, ip: string): PodEndpoint => ({ kind: "pod", namespace: namespaceName(t.spec.slug), namespaceLabels: namespaceLabels(t), podLabels: { "matih.ai/tenant-slug": t.spec.slug, "app.kubernetes.io/part-of": "matih", "app.kubernetes.io/name": "query-engine" }, ip });
    const apiServer = settings.kubernetes.apiServerCidrs[0]!.split("/")[0]!;
    for (const [i, t] of tenants.entries()) {
      const other = tenants[(i + 1) % tenants.length]!;
      const me = controllerPod(t, `10.244.${i}.10`);
      expect(isAllowed(policies, { from: { kind: "external", ip: "198.51.100.20" }, to: me, port: 443 }), `${t.spec.slug}: client -> controller`).toBe(true);
      expect(isAllowed(policies, { from: me, to: servicePod(t, `10.244.${i}.20`), port: 8080 }), `${t.spec.slug}: controller -> service`).toBe(true);
      expect(isAllowed(policies, { from: me, to: { kind: "external", ip: apiServer }, port: 443 }), `${t.spec.slug}: controller -> API server`).toBe(true);
      expect(isAllowed(policies, { from: controllerPod(other, `10.244.${i}.30`), to: servicePod(t, `10.244.${i}.20`), port: 8080 }), `${other.spec.slug}'s controller -> ${t.spec.slug}`).toBe(false);
    }
  });
});
