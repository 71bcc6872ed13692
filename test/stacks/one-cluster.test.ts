/**
 * One cluster and one Azure subscription, many tenants: a fleet of every tier
 * in several regions rendered side by side (with what the real Helm engine
 * makes of each ingress-nginx release), as the cluster and Azure would hold
 * them. No two tenants may own one cluster-scoped object, Azure resource name,
 * DNS record, Helm release or PostgreSQL role; every namespaced object sits in
 * its tenant's namespace, or in a shared one only as a key the tenant owns.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { namespaceName, validateTenantSpec } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import { alertmanagerDiscoveryRoleName } from "../../components/09-monitoring.ts";
import { renderUnderMocks, type RenderResult } from "../../stacks/mock-render.ts";
import { ClusterModel, type SharedContract } from "../support/cluster-model.ts";
import { helmTemplate, sharedChart, type ManifestObject } from "../support/helm.ts";

const FLEET: { slug: string; tier: Tier; region: string }[] = [
  { slug: "acme", tier: "free", region: "eastus" },
  { slug: "globex", tier: "free", region: "westeurope" },
  { slug: "initech", tier: "professional", region: "eastus" },
  { slug: "umbrella", tier: "professional", region: "japaneast" },
  { slug: "hooli", tier: "enterprise", region: "westeurope" },
  { slug: "wayne", tier: "enterprise", region: "eastus" },
  // The longest slugs allowed, equal but for the end: truncated names must still differ.
  { slug: "northwind-traders-international-holdings-analytics-aa1", tier: "professional", region: "australiaeast" },
  { slug: "northwind-traders-international-holdings-analytics-bb2", tier: "enterprise", region: "australiaeast" },
];

const settings = resolvePlatformSettings({
  kubernetes: { apiServerCidrs: ["20.62.1.15/32"] },
  // Enterprise tenants outside eastus (the default subnet's region) join a delegated subnet of their own region.
  azure: {
    databaseSubnets: {
      westeurope: { subnetId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/matih-network/providers/Microsoft.Network/virtualNetworks/matih-westeurope/subnets/tenant-databases", subnetCidr: "10.21.1.0/24" },
      australiaeast: { subnetId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/matih-network/providers/Microsoft.Network/virtualNetworks/matih-australiaeast/subnets/tenant-databases", subnetCidr: "10.23.1.0/24" },
    },
  },
  alerts: { slackWebhookSecret: { namespace: "matih-monitoring", name: "slack-webhook", key: "url" } },
});

/** The shared namespace tenants write to, and only as one key each per shared ConfigMap. */
const CONTRACTS: SharedContract[] = [{
  namespace: settings.observability.namespace,
  configMaps: ["loki-tenant-overrides", settings.observability.tempoOverridesConfigMap, "alloy-tenant-logs"],
  keyOwnedBy: (slug, key) => key === `${slug}.yaml` || key === `${namespaceName(slug)}.alloy`,
}, {
  // The tenant Prometheus's grant to discover the shared Alertmanager (docs/real-run.md, "Grants outside the tenant namespace").
  namespace: settings.observability.monitoringNamespace,
  configMaps: [],
  keyOwnedBy: () => false,
  objectOwnedBy: (slug, kind, name) => (kind === "Role" || kind === "RoleBinding") && name === alertmanagerDiscoveryRoleName(slug),
}];

const renders: RenderResult[] = [];
const charts = new Map<string, readonly ManifestObject[]>();
let model: ClusterModel;

beforeAll(async () => {
  for (const [i, t] of FLEET.entries()) {
    const spec = validateTenantSpec({
      id: `6fa459ea-ee8a-4ca4-894e-db77e16035${String(i).padStart(2, "0")}`,
      slug: t.slug, displayName: t.slug, tier: t.tier, region: t.region,
      adminEmail: "admin@example.com", requestedBy: "ops@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
    }, { baseDomain: settings.baseDomain });
    renders.push(await renderUnderMocks(spec, settings));
  }
  const releases = renders.map((r) => r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "ingress-nginx")!)
    .map((x) => ({ release: String(x.inputs.name), namespace: String(x.inputs.namespace), values: x.inputs.values as Record<string, unknown> }));
  for (const rendered of await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), releases)) {
    charts.set(`${rendered.namespace}/${rendered.release}`, rendered.objects);
  }
  model = new ClusterModel(CONTRACTS);
  for (const r of renders) model.addTenant(r, charts);
}, 180_000);

describe("a fleet of eight tenants, every tier, four regions, in one cluster and one subscription", () => {
  it("has no identity claimed by two tenants: cluster-scoped objects, Azure resources, DNS records, Helm releases, PostgreSQL roles, shared keys", () => {
    expect(model.collisions()).toEqual([]);
  });

  it("puts every namespaced object in its tenant's namespace, or in a shared one only as a key its contract gives it", () => {
    expect(model.strays).toEqual([]);
  });

  it("saw what it judges: per tenant a Namespace, the chart's ClusterRole, ClusterRoleBinding and IngressClass, five DNS records, three shared keys", () => {
    for (const t of FLEET) {
      const mine = model.claims.filter((c) => c.tenant === t.slug);
      const clusterScoped = mine.filter((c) => c.kind === "cluster-scoped object").map((c) => c.identity.split("/")[0]).sort();
      expect(clusterScoped, t.slug).toEqual(["ClusterRole", "ClusterRoleBinding", "IngressClass", "Namespace"]);
      expect(mine.filter((c) => c.kind === "DNS record").map((c) => c.identity).sort()).toEqual([
        `*.${t.slug}.matih.ai A`, `${t.slug}.matih.ai A`, `${t.slug}.matih.ai NS`, `api.${t.slug}.matih.ai A`, `bi.${t.slug}.matih.ai A`,
      ].sort());
      expect(mine.filter((c) => c.kind === "shared ConfigMap key")).toHaveLength(3);
      expect(mine.filter((c) => c.kind === "Helm release").length).toBe(10);
      expect(mine.filter((c) => c.kind === "PostgreSQL role")).toHaveLength(1);
    }
    const servers = model.claims.filter((c) => c.identity.startsWith("postgres-server/")).map((c) => c.identity);
    expect(servers.sort()).toEqual(FLEET.filter((t) => t.tier === "enterprise").map((t) => `postgres-server/matih-${t.slug}-pg`).sort());
  });

  it("would have caught the chart's default names: two tenants installing ingress-nginx without fullnameOverride and namespaced RBAC share its ClusterRole", async () => {
    const withoutOverride = renders.slice(0, 2).map((r) => {
      const release = r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && x.inputs.chart === "ingress-nginx")!;
      const { fullnameOverride: _dropped, rbac: _cluster, ...values } = release.inputs.values as Record<string, unknown>;
      return { release: String(release.inputs.name), namespace: String(release.inputs.namespace), values };
    });
    const defaults = new Map((await helmTemplate(sharedChart("ingress-nginx", "4.12.1"), withoutOverride)).map((x) => [`${x.namespace}/${x.release}`, x.objects]));
    const naive = new ClusterModel(CONTRACTS);
    for (const r of renders.slice(0, 2)) naive.addTenant(r, defaults);
    expect(naive.collisions().map((c) => `${c.kind} ${c.identity}`)).toEqual([
      "cluster-scoped object ClusterRole/ingress-nginx",
      "cluster-scoped object ClusterRoleBinding/ingress-nginx",
    ]);
  }, 60_000);

  it("places each enterprise server in its tenant's region, in that region's delegated subnet", () => {
    const placed = renders.flatMap((r) => r.resources.filter((x) => x.type === "azure-native:dbforpostgresql:Server"))
      .map((x) => [x.inputs.serverName, x.inputs.location, (x.inputs.network as { delegatedSubnetResourceId: string }).delegatedSubnetResourceId.split("/")[8]]);
    expect(placed).toEqual([
      ["matih-hooli-pg", "westeurope", "matih-westeurope"],
      ["matih-wayne-pg", "eastus", "matih-aks"],
      ["matih-northwind-traders-international-holdings-analytics-bb2-pg", "australiaeast", "matih-australiaeast"],
    ]);
  });

  it("flags a write into a shared namespace outside the contract", () => {
    const naive = new ClusterModel([]);
    naive.addTenant(renders[0]!, charts);
    // The three shared keys, and phase 9's discovery Role and RoleBinding in the monitoring namespace.
    expect(naive.strays.length).toBe(5);
    expect(naive.strays.filter((s) => s.includes(" matih-monitoring/"))).toEqual([
      expect.stringMatching(/^acme: Role matih-monitoring\/alertmanager-discovery-matih-acme .* no shared contract covers it$/),
      expect.stringMatching(/^acme: RoleBinding matih-monitoring\/alertmanager-discovery-matih-acme .* no shared contract covers it$/),
    ]);
    expect(naive.strays.find((s) => s.includes("alloy-tenant-logs"))).toMatch(/^acme: ConfigMapPatch matih-observability\/alloy-tenant-logs .* no shared contract covers it$/);
  });
});
