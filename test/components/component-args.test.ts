import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { cloudMocks } from "../../stacks/cloud-mocks.ts";
import { TIER_PROFILES } from "../../model/tiers.ts";
import { unwrap } from "../support/fixtures.ts";
import { TENANT_ID } from "../support/acme.ts";

await pulumi.runtime.setMocks(cloudMocks({ slug: "acme" }), "matih-tenants", "acme", false);
const { TenantNamespace } = await import("../../components/01-namespace.ts");
const { CoreServices } = await import("../../components/03-core-services.ts");
const { NetworkIsolation } = await import("../../components/04-networking.ts");
const { TenantMonitoring } = await import("../../components/09-monitoring.ts");
const { TenantObservability } = await import("../../components/10-observability.ts");
const { TenantDnsZone } = await import("../../components/07-dns-zone.ts");

let n = 0;
const unique = (base: string) => `${base}-${n++}`;

describe("phase components refuse bad arguments before declaring anything", () => {
  const nsArgs = { tenantId: TENANT_ID, slug: "acme", tier: "free" as const, region: "eastus", provisionedAt: "2026-02-12T10:00:00Z", provisionedBy: "admin@matih.ai" };

  it("TenantNamespace needs container defaults when a quota is set", () => {
    expect(() => new TenantNamespace(unique("ns"), { ...nsArgs, quota: TIER_PROFILES.free.quota })).toThrow(
      "TenantNamespace: containerDefaults is required when a quota is set: without a LimitRange, pods that declare no requests are refused by the quota",
    );
  });

  it("TenantNamespace needs an ISO timestamp for provisioned-at", () => {
    expect(() => new TenantNamespace(unique("ns"), { ...nsArgs, provisionedAt: "yesterday" })).toThrow('TenantNamespace: provisionedAt must be an ISO 8601 timestamp, got "yesterday"');
  });

  const releaseArgs = {
    namespace: "matih-acme", tenantId: TENANT_ID, slug: "acme", chartRepository: "https://charts.matih.ai", chartVersion: "1.0.0",
    image: (s: string) => ({ repository: `r/${s}`, tag: "t" }), credentialsSecretName: "tenant-database-credentials", credentialsChecksum: "0".repeat(64),
    replicas: 1, resources: TIER_PROFILES.free.coreServices.resources,
  };
  it("CoreServices refuses zero replicas and a chart repository that is not a URL", () => {
    expect(() => new CoreServices(unique("core"), { ...releaseArgs, replicas: 0 })).toThrow("CoreServices: replicas must be a whole number of at least 1, got 0");
    expect(() => new CoreServices(unique("core"), { ...releaseArgs, chartRepository: "matih" })).toThrow('CoreServices: chartRepository must be an http(s) or oci URL, got "matih"');
  });

  it("NetworkIsolation refuses an empty list of database CIDRs", () => {
    expect(() => new NetworkIsolation(unique("net"), {
      slug: "acme", namespace: "matih-acme", controlPlaneNamespace: "cp", databaseCidrs: [], dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }, apiServerCidrs: ["10.0.0.1/32"],
    })).toThrow("NetworkIsolation: databaseCidrs must name at least one CIDR: without it the tenant cannot reach its database");
  });

  it("NetworkIsolation refuses a database check without an image or with a Secret name Kubernetes would refuse", () => {
    const netArgs = { slug: "acme", namespace: "matih-acme", controlPlaneNamespace: "cp", databaseCidrs: ["10.20.0.0/24"], dns: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } } };
    expect(() => new NetworkIsolation(unique("net"), { ...netArgs, databaseCheck: { image: "", credentialsSecretName: "tenant-database-credentials" } }))
      .toThrow(new Error("NetworkIsolation: databaseCheck.image must name an image with psql"));
    expect(() => new NetworkIsolation(unique("net"), { ...netArgs, databaseCheck: { image: "postgres:16-alpine", credentialsSecretName: "Tenant_Credentials" } }))
      .toThrow(new Error('NetworkIsolation: databaseCheck.credentialsSecretName must be a Kubernetes Secret name, got "Tenant_Credentials"'));
  });

  const monitoringArgs = {
    slug: "acme", namespace: "matih-acme", retention: "15d", resources: TIER_PROFILES.free.monitoring.resources,
    alertmanagerNamespace: "matih-monitoring", platformPrometheus: "p:9090", email: { to: ["a@b.c"], from: "x@b.c", smarthost: "smtp:587" },
  };
  it("TenantMonitoring refuses a retention Prometheus would not parse and an empty recipient list", () => {
    expect(() => new TenantMonitoring(unique("mon"), { ...monitoringArgs, retention: "15 days" })).toThrow('TenantMonitoring: retention must be a Prometheus duration such as 15d, got "15 days"');
    expect(() => new TenantMonitoring(unique("mon"), { ...monitoringArgs, email: { ...monitoringArgs.email, to: [] } })).toThrow("TenantMonitoring: email.to must name at least one recipient");
  });

  it("TenantMonitoring refuses an Alertmanager namespace that is no namespace name, where its discovery grant would go", () => {
    expect(() => new TenantMonitoring(unique("mon"), { ...monitoringArgs, alertmanagerNamespace: "Matih_Monitoring" }))
      .toThrow(new Error('TenantMonitoring: alertmanagerNamespace must be a namespace name, got "Matih_Monitoring"'));
  });

  it("TenantObservability refuses a retention in days, which Loki and Tempo do not parse", () => {
    expect(() => new TenantObservability(unique("obs"), {
      slug: "acme", tenantId: TENANT_ID, namespace: "matih-acme", observabilityNamespace: "o", lokiUrl: "http://l", tempoOtlpEndpoint: "t:4317", tempoUrl: "http://t",
      traceRetention: "14d", logRetention: "336h", collectorResources: TIER_PROFILES.free.observability.collectorResources,
      images: { otelCollector: "c", telemetrygen: "g", curl: "u" },
    })).toThrow('TenantObservability: traceRetention must be a duration in hours, minutes or seconds such as 336h, got "14d"');
  });

  it("TenantDnsZone refuses a parent zone that does not contain the base domain", () => {
    expect(() => new TenantDnsZone(unique("dns"), { slug: "acme", tenantId: TENANT_ID, baseDomain: "matih.ai", parentZoneName: "example.com", resourceGroupName: "rg", loadBalancerIp: "203.0.113.7" })).toThrow(
      'TenantDnsZone: parentZoneName "example.com" must be the base domain "matih.ai" or contain it',
    );
  });
});

describe("phase component outputs", () => {
  it("TenantNamespace outputs the namespace and service account for the next phases", async () => {
    const ns = new TenantNamespace(unique("ns"), { tenantId: TENANT_ID, slug: "acme", tier: "enterprise", region: "eastus", provisionedAt: "2026-02-12T10:00:00Z", provisionedBy: "admin@matih.ai" });
    expect(await unwrap(ns.namespaceName)).toBe("matih-acme");
    expect(await unwrap(ns.serviceAccountName)).toBe("tenant-workload");
  });
});
