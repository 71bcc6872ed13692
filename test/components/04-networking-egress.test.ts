/**
 * The isolation table's egress rows judged by the source's own policies
 * alone. The table in 04-networking.test.ts asks whether a connection gets
 * through a cluster holding two tenants' policies, so a blocked row there can
 * pass because the destination's ingress policy refuses it, even when acme's
 * egress was widened to let it out. Here only acme's policies are loaded and
 * only the egress verdict is read: what acme's pods may send, whatever any
 * other namespace accepts. Every row is a literal (from, to, port, allowed).
 */
import { describe, expect, it } from "vitest";
import { TIERS } from "../../model/tiers.ts";
import { render } from "../support/fixtures.ts";
import { evaluateConnection, networkPoliciesFromResources, type Endpoint, type NetworkPolicy, type PodEndpoint } from "../support/netpol.ts";

const ns = (name: string, extra: Record<string, string> = {}) => ({ "kubernetes.io/metadata.name": name, ...extra });
const pod = (namespace: string, namespaceLabels: Record<string, string>, podLabels: Record<string, string>, ip: string): PodEndpoint => ({ kind: "pod", namespace, namespaceLabels, podLabels, ip });
const ext = (ip: string): Endpoint => ({ kind: "external", ip });

const ACME = ns("matih-acme", { "matih.ai/tenant-slug": "acme" });
const GLOBEX = ns("matih-globex", { "matih.ai/tenant-slug": "globex" });
const acmeService = pod("matih-acme", ACME, { "app.kubernetes.io/name": "query-engine" }, "10.244.1.10");
const acmeOther = pod("matih-acme", ACME, { "app.kubernetes.io/name": "bi-service" }, "10.244.1.11");
const acmeController = pod("matih-acme", ACME, { "app.kubernetes.io/name": "ingress-nginx" }, "10.244.1.12");
// The label literally, not the component's constant: a renamed label is a changed contract.
const acmeConnector = pod("matih-acme", ACME, { "app.kubernetes.io/name": "pipeline-connector", "matih.ai/internet-egress": "true" }, "10.244.1.13");
const acmePrometheus = pod("matih-acme", ACME, { "app.kubernetes.io/name": "prometheus" }, "10.244.1.14");
const globexService = pod("matih-globex", GLOBEX, { "app.kubernetes.io/name": "query-engine" }, "10.244.2.10");
const globexPrometheus = pod("matih-globex", GLOBEX, { "app.kubernetes.io/name": "prometheus" }, "10.244.2.14");
// Default platform settings: control plane `matih-control-plane`, DNS kube-dns in kube-system, telemetry in `matih-observability`.
const controlPlane = pod("matih-control-plane", ns("matih-control-plane"), { app: "tenant-service" }, "10.244.3.5");
const clusterDns = pod("kube-system", ns("kube-system"), { "k8s-app": "kube-dns" }, "10.244.0.10");
const someKubeSystemPod = pod("kube-system", ns("kube-system"), { app: "metrics-server" }, "10.244.0.20");
const loki = pod("matih-observability", ns("matih-observability"), { "app.kubernetes.io/name": "loki" }, "10.244.4.6");

const API_SERVER = "20.62.1.15";
const apiServer = ext(API_SERVER);
const sharedDatabase = ext("10.20.0.4"); // inside the default shared-PostgreSQL network 10.20.0.0/24
const privateHost = ext("10.50.0.7"); // a private address outside the cluster: another VNet, a peered network
const metadata = ext("169.254.169.254"); // the cloud's instance metadata service
const internet = ext("93.184.216.34");

type Row = [name: string, from: PodEndpoint, to: Endpoint, port: number, protocol: "TCP" | "UDP", allowed: boolean];

const ROWS: Row[] = [
  // The Kubernetes API: only the ingress controller and the tenant Prometheus.
  ["the tenant Prometheus reaches the API server on 443", acmePrometheus, apiServer, 443, "TCP", true],
  ["the tenant Prometheus reaches the API server on 6443", acmePrometheus, apiServer, 6443, "TCP", true],
  ["the tenant Prometheus reaches the API server on no other port", acmePrometheus, apiServer, 8080, "TCP", false],
  ["the ingress controller reaches the API server on 443", acmeController, apiServer, 443, "TCP", true],
  ["an ordinary pod does not reach the API server", acmeService, apiServer, 443, "TCP", false],
  ["a connector pod does not reach the API server, though it reaches the internet", acmeConnector, apiServer, 443, "TCP", false],
  ["a connector pod does not reach the API server on 6443 either", acmeConnector, apiServer, 6443, "TCP", false],

  // Connector pods: the internet, and nothing private or link-local outside the cluster.
  ["a connector pod reaches the internet on 443", acmeConnector, internet, 443, "TCP", true],
  ["a connector pod reaches the internet on any port", acmeConnector, internet, 5439, "TCP", true],
  ["a connector pod does not reach a private 10.x host on a non-database port", acmeConnector, privateHost, 8080, "TCP", false],
  ["a connector pod does not reach a private 10.x host on 443", acmeConnector, privateHost, 443, "TCP", false],
  ["a connector pod does not reach the database network on another port", acmeConnector, sharedDatabase, 22, "TCP", false],
  ["a connector pod does not reach 172.16/12", acmeConnector, ext("172.20.1.1"), 443, "TCP", false],
  ["a connector pod does not reach 192.168/16", acmeConnector, ext("192.168.1.1"), 443, "TCP", false],
  ["a connector pod does not reach the carrier-grade NAT range 100.64/10", acmeConnector, ext("100.64.0.1"), 443, "TCP", false],
  ["a connector pod does not reach the instance metadata service on 80", acmeConnector, metadata, 80, "TCP", false],
  ["a connector pod does not reach the instance metadata service on 443", acmeConnector, metadata, 443, "TCP", false],
  ["a connector pod does not send to another tenant's pod", acmeConnector, globexService, 8080, "TCP", false],
  ["a connector pod reaches the database endpoints like any pod", acmeConnector, sharedDatabase, 5432, "TCP", true],

  // Ordinary pods: nothing outside what the table allows.
  ["an ordinary pod does not send to another tenant's pod", acmeService, globexService, 8080, "TCP", false],
  ["an ordinary pod does not send to another tenant's Prometheus", acmeService, globexPrometheus, 9090, "TCP", false],
  ["the tenant Prometheus does not send to another tenant's pod", acmePrometheus, globexService, 8080, "TCP", false],
  ["an ordinary pod does not reach the instance metadata service", acmeService, metadata, 80, "TCP", false],
  ["an ordinary pod does not reach a private 10.x host", acmeService, privateHost, 8080, "TCP", false],
  ["an ordinary pod does not reach the internet", acmeService, internet, 443, "TCP", false],
  ["the tenant Prometheus does not reach the internet", acmePrometheus, internet, 443, "TCP", false],
  ["an ordinary pod reaches the database endpoints on 5432", acmeService, sharedDatabase, 5432, "TCP", true],
  ["an ordinary pod does not reach the database network on 22", acmeService, sharedDatabase, 22, "TCP", false],
  ["an ordinary pod reaches its own namespace", acmeService, acmeOther, 8080, "TCP", true],
  ["an ordinary pod reaches the control plane", acmeService, controlPlane, 8080, "TCP", true],
  ["an ordinary pod reaches cluster DNS on 53/UDP", acmeService, clusterDns, 53, "UDP", true],
  ["an ordinary pod reaches cluster DNS on 53/TCP", acmeService, clusterDns, 53, "TCP", true],
  ["an ordinary pod reaches the DNS pods on no other port", acmeService, clusterDns, 8080, "TCP", false],
  ["an ordinary pod reaches no other kube-system pod", acmeService, someKubeSystemPod, 53, "UDP", false],
  ["telemetry goes to the platform observability namespace", acmeService, loki, 3100, "TCP", true],
];

/** acme's own policies, with the API server's endpoint configured; no other tenant's policy is loaded. */
async function acmePolicies(tier: (typeof TIERS)[number]): Promise<NetworkPolicy[]> {
  const r = await render(tier, { lastPhase: 4, settings: { kubernetes: { apiServerCidrs: [`${API_SERVER}/32`] } } });
  const policies = networkPoliciesFromResources(r.resources);
  expect(new Set(policies.map((p) => p.metadata.namespace))).toEqual(new Set(["matih-acme"]));
  return policies;
}

describe.each(TIERS)("what a %s tenant's pods may send, by their own egress policies alone", (tier) => {
  it.each(ROWS)("%s", async (_name, from, to, port, protocol, allowed) => {
    const verdict = evaluateConnection(await acmePolicies(tier), { from, to, port, protocol });
    // Every acme pod is isolated for egress: the verdict comes from a rule, not from the absence of one.
    expect(verdict.egress.isolated).toBe(true);
    expect(verdict.egress.allowed).toBe(allowed);
  });
});
