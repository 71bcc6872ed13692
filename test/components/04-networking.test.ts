import { describe, expect, it } from "vitest";
import { INTERNET_EGRESS_LABEL } from "../../components/04-networking.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { render } from "../support/fixtures.ts";
import { isAllowed, networkPoliciesFromResources, type Endpoint, type NetworkPolicy, type PodEndpoint } from "../support/netpol.ts";

const settings = resolvePlatformSettings();
const nsLabels = (name: string, extra: Record<string, string> = {}) => ({ "kubernetes.io/metadata.name": name, ...extra });
const tenantNs = (slug: string) => nsLabels(`matih-${slug}`, { "matih.ai/tenant-slug": slug });

const pod = (namespace: string, namespaceLabels: Record<string, string>, podLabels: Record<string, string>, ip: string): PodEndpoint => ({ kind: "pod", namespace, namespaceLabels, podLabels, ip });
const acmeService = pod("matih-acme", tenantNs("acme"), { "app.kubernetes.io/name": "query-engine" }, "10.244.1.10");
const acmeOtherService = pod("matih-acme", tenantNs("acme"), { "app.kubernetes.io/name": "bi-service" }, "10.244.1.11");
const acmeController = pod("matih-acme", tenantNs("acme"), { "app.kubernetes.io/name": "ingress-nginx" }, "10.244.1.12");
const acmeConnector = pod("matih-acme", tenantNs("acme"), { "app.kubernetes.io/name": "pipeline-connector", [INTERNET_EGRESS_LABEL]: "true" }, "10.244.1.13");
const acmePrometheus = pod("matih-acme", tenantNs("acme"), { "app.kubernetes.io/name": "prometheus" }, "10.244.1.14");
const globexService = pod("matih-globex", tenantNs("globex"), { "app.kubernetes.io/name": "query-engine" }, "10.244.2.10");
const globexController = pod("matih-globex", tenantNs("globex"), { "app.kubernetes.io/name": "ingress-nginx" }, "10.244.2.12");
const controlPlane = pod(settings.controlPlaneNamespace, nsLabels(settings.controlPlaneNamespace), { app: "tenant-service" }, "10.244.3.5");
const clusterDns = pod("kube-system", nsLabels("kube-system"), { "k8s-app": "kube-dns" }, "10.244.0.10");
const grafana = pod(settings.observability.namespace, nsLabels(settings.observability.namespace), { "app.kubernetes.io/name": "grafana" }, "10.244.4.5");
const database: Endpoint = { kind: "external", ip: "10.20.0.4" };
const internet: Endpoint = { kind: "external", ip: "93.184.216.34" };
// The API server's endpoint (what egress rules see after DNAT), as the settings give it.
const API_SERVER_CIDR = "20.62.1.15/32";
const apiServer: Endpoint = { kind: "external", ip: "20.62.1.15" };
const WITH_API = { kubernetes: { apiServerCidrs: [API_SERVER_CIDR] } };

/**
 * The policies of two tenants (acme and globex) side by side, as a cluster
 * would hold them, so that cross-tenant traffic is judged by both sides.
 */
async function clusterPolicies(tier: (typeof TIERS)[number]): Promise<NetworkPolicy[]> {
  const acme = await render(tier, { lastPhase: 4, settings: WITH_API });
  const globex = await render(tier, { lastPhase: 4, settings: WITH_API, spec: { slug: "globex", id: "6fa459ea-ee8a-4ca4-894e-db77e160355e" } });
  return [...networkPoliciesFromResources(acme.resources), ...networkPoliciesFromResources(globex.resources)];
}

describe.each(TIERS)("phase 4 CONFIGURE_NETWORKING for a %s tenant", (tier) => {
  it("declares the seed's three policies exactly as written", async () => {
    const r = await render(tier, { lastPhase: 4 });
    const spec = (name: string) => r.k8s("NetworkPolicy", name).inputs.spec;
    expect(spec("default-deny-ingress")).toEqual({ podSelector: {}, policyTypes: ["Ingress"] });
    expect(spec("allow-same-namespace")).toEqual({ podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
    expect(spec("allow-ingress-controller")).toEqual({
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { "matih.ai/tenant-slug": "acme" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } } }] }],
    });
    for (const p of r.ofKind("NetworkPolicy")) expect((p.inputs.metadata as { namespace: string }).namespace).toBe("matih-acme");
  });

  describe("makes the isolation table true", () => {
    const table: [string, Endpoint, Endpoint, number, "TCP" | "UDP", boolean][] = [
      ["tenant-to-tenant traffic is blocked (into acme)", globexService, acmeService, 8080, "TCP", false],
      ["tenant-to-tenant traffic is blocked (out of acme)", acmeService, globexService, 8080, "TCP", false],
      ["another tenant's ingress controller cannot reach acme", globexController, acmeService, 8080, "TCP", false],
      ["traffic within the tenant namespace is allowed", acmeService, acmeOtherService, 8080, "TCP", true],
      ["the tenant's ingress controller reaches its services", acmeController, acmeService, 8080, "TCP", true],
      ["clients reach the ingress controller on 443 through the load balancer", internet, acmeController, 443, "TCP", true],
      ["clients do not reach services directly", internet, acmeService, 8080, "TCP", false],
      ["egress to the control-plane namespace is allowed", acmeService, controlPlane, 8080, "TCP", true],
      ["egress to the database endpoints is allowed", acmeService, database, 5432, "TCP", true],
      ["egress to the database network on another port is blocked", acmeService, database, 22, "TCP", false],
      ["cluster DNS is reachable", acmeService, clusterDns, 53, "UDP", true],
      ["the internet is blocked for ordinary pods", acmeService, internet, 443, "TCP", false],
      ["connector pods reach the internet", acmeConnector, internet, 443, "TCP", true],
      ["connector pods still cannot reach another tenant", acmeConnector, globexService, 8080, "TCP", false],
      ["the ingress controller reaches the Kubernetes API", acmeController, apiServer, 443, "TCP", true],
      ["ordinary pods do not reach the Kubernetes API", acmeService, apiServer, 443, "TCP", false],
      ["the platform Grafana reads the tenant Prometheus", grafana, acmePrometheus, 9090, "TCP", true],
      ["the platform Grafana reaches nothing else in the tenant", grafana, acmeService, 8080, "TCP", false],
    ];
    it.each(table)("%s", async (_name, from, to, port, protocol, allowed) => {
      const policies = await clusterPolicies(tier);
      expect(isAllowed(policies, { from, to, port, protocol })).toBe(allowed);
    });
  });
});

it("opens the database egress on the configured port and CIDRs", async () => {
  const r = await render("free", { lastPhase: 4, settings: { postgres: { port: 6543, networkCidrs: ["10.30.0.0/24", "10.31.0.0/24"] } } });
  const policies = networkPoliciesFromResources(r.resources);
  expect(isAllowed(policies, { from: acmeService, to: { kind: "external", ip: "10.31.0.9" }, port: 6543 })).toBe(true);
  expect(isAllowed(policies, { from: acmeService, to: { kind: "external", ip: "10.20.0.4" }, port: 6543 })).toBe(false);
});

describe("egress to the Kubernetes API server", () => {
  it("opens the configured endpoint address, not the kubernetes Service ClusterIP, to the ingress controller and Prometheus", async () => {
    const r = await render("free", { lastPhase: 4, settings: WITH_API });
    const policy = r.k8s("NetworkPolicy", "allow-egress-kube-api");
    expect((policy.inputs.spec as any).egress[0].to).toEqual([{ ipBlock: { cidr: API_SERVER_CIDR } }]);
  });

  it("has no default: without the setting no policy opens the API (and a real run is refused), instead of a ClusterIP rule that never matches", async () => {
    expect(resolvePlatformSettings().kubernetes.apiServerCidrs).toEqual([]);
    const r = await render("free", { lastPhase: 4 });
    expect(r.ofKind("NetworkPolicy").map((p) => (p.inputs.metadata as any).name)).not.toContain("allow-egress-kube-api");
    const policies = networkPoliciesFromResources(r.resources);
    expect(isAllowed(policies, { from: acmeController, to: { kind: "external", ip: "10.0.0.1" }, port: 443 })).toBe(false);
  });

  it("refuses the kubernetes Service's ClusterIP (inside the Service CIDR) and says how to read the endpoint", () => {
    expect(() => resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["10.0.0.1/32"] } })).toThrow(
      /kubernetes\.apiServerCidrs: 10\.0\.0\.1\/32 is inside the Service CIDR 10\.0\.0\.0\/16: .*kubectl get endpointslices -n default -l kubernetes\.io\/service-name=kubernetes/,
    );
    expect(() => resolvePlatformSettings({ kubernetes: { apiServerCidrs: ["10.1.0.1/32"], serviceCidr: "10.1.0.0/16" } })).toThrow(/inside the Service CIDR 10\.1\.0\.0\/16/);
    expect(resolvePlatformSettings({ kubernetes: { apiServerCidrs: [API_SERVER_CIDR] } }).kubernetes.apiServerCidrs).toEqual([API_SERVER_CIDR]);
  });
});
