/**
 * What each tenant service account may do in the cluster: its effective RBAC
 * permissions, from the program's render of every phase (Roles, RoleBindings,
 * ClusterRoles, ClusterRoleBindings) plus what the real Helm engine renders
 * for its releases (the public ingress-nginx chart, and the stand-in matih
 * charts of the local cluster). A tenant account may read or write outside its
 * namespace only as the short list in docs/real-run.md ("Grants outside the
 * tenant namespace") allows, and every namespace a tenant Prometheus discovers
 * in must be granted to it, or its discovery fails quietly.
 */
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { ingressControllerFullname } from "../../components/06-ingress-controller.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { namespaceName, validateTenantSpec } from "../../model/spec.ts";
import type { Tier } from "../../model/tiers.ts";
import { renderUnderMocks, type RenderedResource, type RenderResult } from "../../stacks/mock-render.ts";
import {
  allows, describeGrant, directGrants, documentedExceptions, effectiveGrants, isAllowedOutside, isOutside, rbacObjects,
  type Grant, type RbacObject,
} from "../support/grants.ts";
import { helmTemplate, sharedChart, type RenderedRelease } from "../support/helm.ts";
import { selectorMatches, type LabelSelector } from "../support/netpol.ts";

const FLEET: { slug: string; tier: Tier }[] = [
  { slug: "acme", tier: "free" },
  { slug: "globex", tier: "professional" },
  { slug: "initech", tier: "enterprise" },
];

const settings = resolvePlatformSettings({
  kubernetes: { apiServerCidrs: ["20.62.1.15/32"] },
  alerts: { slackWebhookSecret: { namespace: "matih-monitoring", name: "slack-webhook", key: "url" } },
});
const MONITORING = settings.observability.monitoringNamespace;
/** The stand-in matih chart (scripts/local-cluster/charts): what the local cluster installs for each matih release. */
const STAND_IN = fileURLToPath(new URL("../../scripts/local-cluster/charts/stand-in", import.meta.url));

/** The exceptions for one tenant: `{slug}` in an account name is the tenant's controller. */
const exceptionsFor = (slug: string) => documentedExceptions().map((e) => ({ ...e, account: e.account === "ingress-nginx-{slug}" ? ingressControllerFullname(slug) : e.account }));

interface Tenant {
  slug: string;
  namespace: string;
  render: RenderResult;
  charts: RenderedRelease[];
}
const tenants: Tenant[] = [];

const helmReleases = (r: RenderResult, chart: (name: string) => boolean) => r.resources
  .filter((x) => x.type === "kubernetes:helm.sh/v3:Release" && chart(String(x.inputs.chart)))
  .map((x) => ({ release: String(x.inputs.name), namespace: String(x.inputs.namespace), values: x.inputs.values as Record<string, unknown> }));

beforeAll(async () => {
  const renders: RenderResult[] = [];
  for (const [i, t] of FLEET.entries()) {
    const spec = validateTenantSpec({
      id: `7c9e6679-7425-40de-944b-e07fc1f90ae${i}`, slug: t.slug, displayName: t.slug, tier: t.tier, region: "eastus",
      adminEmail: "admin@example.com", requestedBy: "ops@matih.ai", requestedAt: "2026-02-12T10:00:00Z",
    }, { baseDomain: settings.baseDomain });
    renders.push(await renderUnderMocks(spec, settings));
  }
  const nginx = await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), renders.flatMap((r) => helmReleases(r, (c) => c === "ingress-nginx")));
  const matih = await helmTemplate(STAND_IN, renders.flatMap((r) => helmReleases(r, (c) => c !== "ingress-nginx")));
  for (const r of renders) {
    const namespace = namespaceName(r.tenant.slug);
    tenants.push({ slug: r.tenant.slug, namespace, render: r, charts: [...nginx, ...matih].filter((c) => c.namespace === namespace) });
  }
}, 240_000);

const kindOf = (r: RenderedResource) => (typeof r.inputs.kind === "string" ? r.inputs.kind : r.type.split(":").at(-1)!);
const metaOf = (r: RenderedResource) => r.inputs.metadata as { name: string; namespace?: string; labels?: Record<string, string> };

/** The service accounts of a tenant namespace: those declared, those the charts create, and `default`. */
function accountsOf(t: Tenant): string[] {
  const declared = t.render.resources.filter((r) => r.custom && !r.read && kindOf(r) === "ServiceAccount").map((r) => `${metaOf(r).namespace}/${metaOf(r).name}`);
  const charted = t.charts.flatMap((c) => c.objects.filter((o) => o.kind === "ServiceAccount").map((o) => `${o.metadata.namespace ?? c.namespace}/${o.metadata.name}`));
  return [...new Set([`${t.namespace}/default`, ...declared, ...charted])].sort();
}

const objectsOf = (t: Tenant): RbacObject[] => rbacObjects(t.render.resources, t.charts);

/** Outside grants of a tenant's accounts that no documented exception covers. */
function violations(t: Tenant, objects: readonly RbacObject[] = objectsOf(t)): string[] {
  const accounts = accountsOf(t);
  const { grants } = directGrants(objects, accounts);
  const allowed = exceptionsFor(t.slug);
  return accounts.flatMap((a) => effectiveGrants(grants, accounts, a)
    .filter((g) => isOutside(g, t.namespace) && !isAllowedOutside(g, allowed))
    .map((g) => `${a}${g.through.length ? ` as ${g.through.join(" as ")}` : ""}: ${describeGrant(g)}`));
}

/** The Kubernetes discovery rules Prometheus needs in a namespace it discovers in. */
const DISCOVERY: readonly [string, string][] = [["", "endpoints"], ["", "services"], ["", "pods"], ["discovery.k8s.io", "endpointslices"]];

/**
 * Every namespace each Prometheus of a tenant discovers in, and why: its
 * Alertmanagers' namespaces, and those of the ServiceMonitors and PodMonitors
 * it selects (`*` for any namespace).
 */
function discoveries(t: Tenant): { account: string; namespace: string; why: string }[] {
  const custom = t.render.resources.filter((r) => r.custom && !r.read);
  const out: { account: string; namespace: string; why: string }[] = [];
  for (const p of custom.filter((r) => kindOf(r) === "Prometheus")) {
    const ns = metaOf(p).namespace!;
    const spec = p.inputs.spec as { serviceAccountName?: string; alerting?: { alertmanagers?: { namespace?: string; name: string }[] }; serviceMonitorSelector?: LabelSelector; podMonitorSelector?: LabelSelector };
    const account = `${ns}/${spec.serviceAccountName ?? "default"}`;
    for (const am of spec.alerting?.alertmanagers ?? []) out.push({ account, namespace: am.namespace ?? ns, why: `Alertmanager ${am.name}` });
    for (const [kind, selector] of [["ServiceMonitor", spec.serviceMonitorSelector], ["PodMonitor", spec.podMonitorSelector]] as const) {
      if (!selector) continue;
      for (const m of custom.filter((r) => kindOf(r) === kind && metaOf(r).namespace === ns && selectorMatches(selector, metaOf(r).labels ?? {}))) {
        const target = (m.inputs.spec as { namespaceSelector?: { any?: boolean; matchNames?: string[] } }).namespaceSelector;
        const names = target?.any ? ["*"] : target?.matchNames?.length ? target.matchNames : [ns];
        for (const n of names) out.push({ account, namespace: n, why: `${kind} ${metaOf(m).name}` });
      }
    }
  }
  return out;
}

/** Discoveries whose namespace the Prometheus's account may not list and watch endpoints, services, pods and endpointslices in. */
function ungrantedDiscoveries(t: Tenant, objects: readonly RbacObject[] = objectsOf(t)): string[] {
  const accounts = accountsOf(t);
  const { grants } = directGrants(objects, accounts);
  return discoveries(t).flatMap((d) => {
    const held: Grant[] = grants.filter((g) => g.holder === d.account);
    const missing = DISCOVERY.flatMap(([group, resource]) => ["list", "watch"]
      .filter((verb) => !held.some((g) => (d.namespace === "*" ? g.scope === "*" : true) && allows(g, group, resource, verb, d.namespace)))
      .map((verb) => `${verb} ${group || "core"}/${resource}`));
    return missing.length ? [`${d.account} discovers in ${d.namespace} (${d.why}) without ${missing.join(", ")}`] : [];
  });
}

describe("tenant service accounts in one cluster: what they may read and write", () => {
  it("documents exactly two exceptions: the controller reads IngressClasses, Prometheus discovers the shared Alertmanager", () => {
    expect(documentedExceptions()).toEqual([
      { account: "ingress-nginx-{slug}", scope: "*", apiGroup: "networking.k8s.io", resources: ["ingressclasses"], verbs: ["get", "list", "watch"] },
      { account: "prometheus", scope: "matih-monitoring", apiGroup: "", resources: ["endpoints", "services", "pods"], verbs: ["get", "list", "watch"] },
      { account: "prometheus", scope: "matih-monitoring", apiGroup: "discovery.k8s.io", resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
    ]);
  });

  it("judges the accounts of every tenant, the chart's controller account included", () => {
    for (const t of tenants) {
      expect(accountsOf(t)).toEqual([`${t.namespace}/default`, `${t.namespace}/${ingressControllerFullname(t.slug)}`, `${t.namespace}/prometheus`, `${t.namespace}/tenant-workload`]);
    }
  });

  it("knows the role of every binding a tenant account is a subject of", () => {
    for (const t of tenants) expect(directGrants(objectsOf(t), accountsOf(t)).unknown, t.slug).toEqual([]);
  });

  it("gives no tenant account anything outside its namespace beyond the documented exceptions, directly or by running pods as another account", () => {
    for (const t of tenants) expect(violations(t), t.slug).toEqual([]);
  });

  it("holds each exception where it is documented, and nothing else outside the namespace", () => {
    for (const t of tenants) {
      const accounts = accountsOf(t);
      const outside = directGrants(objectsOf(t), accounts).grants.filter((g) => isOutside(g, t.namespace)).map(describeGrant);
      const controller = ingressControllerFullname(t.slug);
      expect(outside.sort(), t.slug).toEqual([
        `${t.namespace}/${controller} in *: networking.k8s.io/ingressclasses get,list,watch (ClusterRoleBinding ${controller})`,
        `${t.namespace}/prometheus in matih-monitoring: core/endpoints,services,pods get,list,watch (RoleBinding matih-monitoring/alertmanager-discovery-matih-${t.slug})`,
        `${t.namespace}/prometheus in matih-monitoring: discovery.k8s.io/endpointslices get,list,watch (RoleBinding matih-monitoring/alertmanager-discovery-matih-${t.slug})`,
      ]);
    }
  });

  it("counts that tenant-workload may create Jobs, and so run as the controller and Prometheus: it reaches what they reach, and no more", () => {
    const t = tenants[0]!;
    const accounts = accountsOf(t);
    const { grants } = directGrants(objectsOf(t), accounts);
    const reached = effectiveGrants(grants, accounts, "matih-acme/tenant-workload").filter((g) => isOutside(g, t.namespace)).map((g) => `${g.through.join(" > ")}: ${g.scope} ${g.resources.join(",")}`);
    expect(reached.sort()).toEqual([
      "matih-acme/ingress-nginx-acme: * ingressclasses",
      "matih-acme/prometheus: matih-monitoring endpoints,services,pods",
      "matih-acme/prometheus: matih-monitoring endpointslices",
    ]);
  });

  it("grants each Prometheus discovery in every namespace it discovers in: its own, and the shared Alertmanager's", () => {
    for (const t of tenants) {
      expect(discoveries(t).map((d) => `${d.namespace} ${d.why}`).sort(), t.slug).toEqual([`${t.namespace} ServiceMonitor tenant-services`, "matih-monitoring Alertmanager alertmanager-operated"]);
      expect(ungrantedDiscoveries(t), t.slug).toEqual([]);
    }
  });

  it("would catch a Prometheus that cannot discover its Alertmanager (phase 9 without its grant in the monitoring namespace)", () => {
    const t = tenants[0]!;
    const without = objectsOf(t).filter((o) => o.namespace !== MONITORING);
    expect(ungrantedDiscoveries(t, without)).toEqual([
      "matih-acme/prometheus discovers in matih-monitoring (Alertmanager alertmanager-operated) without list core/endpoints, watch core/endpoints, list core/services, watch core/services, list core/pods, watch core/pods, list discovery.k8s.io/endpointslices, watch discovery.k8s.io/endpointslices",
    ]);
  });

  it("would catch the chart's cluster-wide RBAC: ingress-nginx without rbac.scope lets the controller read secrets in every namespace", async () => {
    const t = tenants[0]!;
    const [release] = helmReleases(t.render, (c) => c === "ingress-nginx");
    const { rbac: _scoped, ...values } = release!.values;
    const [unscoped] = await helmTemplate(sharedChart("ingress-nginx", settings.charts.ingressNginxVersion), [{ ...release!, values }]);
    // As before phase 6 granted IngressClasses itself: the chart's own ClusterRole has the name the component's has now.
    const phase6Rbac = (r: RenderedResource) => r.urn.includes(":IngressController$kubernetes:rbac.");
    const objects = rbacObjects(t.render.resources.filter((r) => !phase6Rbac(r)), [unscoped!, ...t.charts.filter((c) => c.release !== "ingress-nginx")]);
    expect(directGrants(objects, accountsOf(t)).unknown).toEqual([]);
    const found = violations(t, objects);
    const controller = `matih-acme/${ingressControllerFullname("acme")}`;
    const clusterRoleBinding = `ClusterRoleBinding ${ingressControllerFullname("acme")}`;
    expect(found).toContain(`${controller}: ${controller} in *: core/configmaps,endpoints,nodes,pods,secrets list,watch (${clusterRoleBinding})`);
    // tenant-workload reaches the same through a Job running as the controller.
    expect(found).toContain(`matih-acme/tenant-workload as ${controller}: ${controller} in *: core/configmaps,endpoints,nodes,pods,secrets list,watch (${clusterRoleBinding})`);
  }, 60_000);
});
