import { describe, expect, it } from "vitest";
import { unprovidedIngressBackends } from "../../components/08-tenant-ingress.ts";
import { DEFAULT_PLATFORM_SETTINGS } from "../../model/settings.ts";
import { TIERS, type Tier } from "../../model/tiers.ts";
import { metadataOf, render, transitiveDependencies, type Rendered } from "../support/fixtures.ts";
import { validateKubernetesObject, type KubernetesObject } from "../support/k8s-schema.ts";

const CERTIFICATE_TYPE = "kubernetes:cert-manager.io/v1:Certificate";
const INGRESS_TYPE = "kubernetes:networking.k8s.io/v1:Ingress";

/** Phase 8 "Ingress Resource" of the provisioning flow, verbatim. */
const SEED_INGRESS = {
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: {
    name: "tenant-ingress",
    namespace: "matih-acme",
    annotations: { "cert-manager.io/cluster-issuer": "letsencrypt-prod-dns01" },
  },
  spec: {
    ingressClassName: "nginx-acme",
    tls: [{ hosts: ["acme.matih.ai", "*.acme.matih.ai"], secretName: "acme-tls-certificate" }],
    rules: [
      {
        host: "acme.matih.ai",
        http: { paths: [{ path: "/api", pathType: "Prefix", backend: { service: { name: "api-gateway", port: { number: 8080 } } } }] },
      },
      {
        host: "bi.acme.matih.ai",
        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "bi-workbench", port: { number: 3000 } } } }] },
      },
    ],
  },
};

interface CertificateSpec {
  secretName: string;
  dnsNames: string[];
  issuerRef: { name: string; kind: string; group?: string };
}

/** True when a certificate for `dnsNames` covers `host` (exactly or by a one-label wildcard). */
function covers(dnsNames: readonly string[], host: string): boolean {
  return dnsNames.some((n) => n === host || (n.startsWith("*.") && host.split(".").slice(1).join(".") === n.slice(2)));
}

const renders = new Map<Tier, Promise<Rendered>>();
const rendered = (tier: Tier): Promise<Rendered> => {
  if (!renders.has(tier)) renders.set(tier, render(tier, { lastPhase: 8 }));
  return renders.get(tier)!;
};

describe.each(TIERS)("phase 8 CREATE_TENANT_INGRESS, %s tier", (tier) => {
  it("requests a cert-manager.io/v1 Certificate for acme.matih.ai and *.acme.matih.ai into secret acme-tls-certificate", async () => {
    const r = await rendered(tier);
    const certs = r.ofType(CERTIFICATE_TYPE);
    expect(certs).toHaveLength(1);
    const cert = certs[0]!;
    expect(cert.phase).toEqual({ number: 8, name: "CREATE_TENANT_INGRESS" });
    expect(cert.inputs.apiVersion).toBe("cert-manager.io/v1");
    expect(cert.inputs.kind).toBe("Certificate");
    expect(metadataOf(cert).namespace).toBe("matih-acme");
    const spec = cert.inputs.spec as CertificateSpec;
    expect(spec.dnsNames).toEqual(["acme.matih.ai", "*.acme.matih.ai"]);
    expect(spec.secretName).toBe("acme-tls-certificate");
    expect(spec.issuerRef).toEqual({ name: "letsencrypt-prod-dns01", kind: "ClusterIssuer", group: "cert-manager.io" });
  });

  it("awaits the Certificate until it is Ready, for the settings' timeout", async () => {
    const cert = (await rendered(tier)).ofType(CERTIFICATE_TYPE)[0]!;
    const annotations = metadataOf(cert).annotations ?? {};
    expect(annotations["pulumi.com/waitFor"]).toBe("condition=Ready");
    expect(annotations["pulumi.com/timeoutSeconds"]).toBe(String(DEFAULT_PLATFORM_SETTINGS.tls.readyTimeoutSeconds));
  });

  it("creates the Ingress exactly as the seed shows it", async () => {
    const r = await rendered(tier);
    expect(r.ofType(INGRESS_TYPE)).toHaveLength(1);
    const ingress = r.k8s("Ingress", "tenant-ingress");
    expect(ingress.type).toBe(INGRESS_TYPE);
    expect(ingress.inputs.apiVersion).toBe(SEED_INGRESS.apiVersion);
    expect(metadataOf(ingress).name).toBe(SEED_INGRESS.metadata.name);
    expect(metadataOf(ingress).namespace).toBe(SEED_INGRESS.metadata.namespace);
    // The seed's annotations, and the program's claim on its fields (stacks/tenant-program.ts).
    expect(metadataOf(ingress).annotations).toEqual({ ...SEED_INGRESS.metadata.annotations, "pulumi.com/patchForce": "true" });
    expect(ingress.inputs.spec).toEqual(SEED_INGRESS.spec);
  });

  it("uses the IngressClass that the tenant's controller of phase 6 serves", async () => {
    const r = await rendered(tier);
    const values = r.release("ingress-nginx").inputs.values as { controller: { ingressClassResource: { name: string } } };
    const spec = r.k8s("Ingress", "tenant-ingress").inputs.spec as { ingressClassName: string };
    expect(spec.ingressClassName).toBe(values.controller.ingressClassResource.name);
  });

  it("serves every Ingress host with the certificate's secret, whose names cover the host", async () => {
    const r = await rendered(tier);
    const cert = r.ofType(CERTIFICATE_TYPE)[0]!.inputs.spec as CertificateSpec;
    const spec = r.k8s("Ingress", "tenant-ingress").inputs.spec as typeof SEED_INGRESS.spec;
    expect(spec.tls.map((t) => t.secretName)).toEqual([cert.secretName]);
    for (const rule of spec.rules) expect(covers(cert.dnsNames, rule.host)).toBe(true);
    for (const host of spec.tls[0]!.hosts) expect(cert.dnsNames).toContain(host);
  });

  it("creates the Ingress only after the Certificate", async () => {
    const r = await rendered(tier);
    const cert = r.ofType(CERTIFICATE_TYPE)[0]!;
    expect(r.k8s("Ingress", "tenant-ingress").dependsOn).toContain(cert.urn);
  });

  it("requests the Certificate only after the DNS delegation exists (DNS-01 needs it)", async () => {
    const r = await rendered(tier);
    const cert = r.ofType(CERTIFICATE_TYPE)[0]!;
    const delegation = r.ofType("azure-native:dns:RecordSet").find((x) => x.inputs.recordType === "NS");
    expect(delegation).toBeDefined();
    expect(transitiveDependencies(r.resources, cert.urn)).toContain(delegation!.urn);
  });

  it("exports the API and BI URLs, and no app URL on the apex, which has no / route", async () => {
    const r = await rendered(tier);
    expect(r.outputs.urls).toEqual({ api: "https://acme.matih.ai/api", bi: "https://bi.acme.matih.ai" });
    const component = r.resources.find((x) => x.type === "matih:ingress:TenantIngress");
    expect(component?.outputs).toEqual({
      hosts: ["acme.matih.ai", "*.acme.matih.ai"],
      tlsSecretName: "acme-tls-certificate",
      urls: { api: "https://acme.matih.ai/api", bi: "https://bi.acme.matih.ai" },
    });
    // Every advertised URL is served by a rule: its host and a path prefix of it.
    const spec = r.k8s("Ingress", "tenant-ingress").inputs.spec as typeof SEED_INGRESS.spec;
    for (const url of Object.values(r.outputs.urls as Record<string, string>)) {
      const u = new URL(url);
      expect(spec.rules.some((rule) => rule.host === u.hostname && rule.http.paths.some((p) => u.pathname.startsWith(p.path))), url).toBe(true);
    }
  });

  it("routes only to Services that a chart of phase 3 or 5 is declared to provide", async () => {
    const r = await rendered(tier);
    const spec = r.k8s("Ingress", "tenant-ingress").inputs.spec as typeof SEED_INGRESS.spec;
    const releases = r.ofType("kubernetes:helm.sh/v3:Release").filter((x) => x.phase!.number < 8 && x.inputs.chart !== "ingress-nginx");
    const provided = releases.flatMap((x) => DEFAULT_PLATFORM_SETTINGS.charts.services[String(x.inputs.chart)] ?? []);
    for (const rule of spec.rules) {
      for (const path of rule.http.paths) expect(provided).toContainEqual({ service: path.backend.service.name, port: path.backend.service.port.number });
    }
  });

  it("renders a Certificate and an Ingress that satisfy their published schemas", async () => {
    const r = await rendered(tier);
    expect(() => validateKubernetesObject(r.ofType(CERTIFICATE_TYPE)[0]!.inputs as KubernetesObject)).not.toThrow();
    expect(() => validateKubernetesObject(r.k8s("Ingress", "tenant-ingress").inputs as KubernetesObject)).not.toThrow();
  });
});

describe("the charts' contract of Ingress backends", () => {
  it("refuses settings whose charts provide no bi-workbench:3000, naming charts.services, before declaring any resource", async () => {
    const services = { ...DEFAULT_PLATFORM_SETTINGS.charts.services, "bi-service": [{ service: "bi-service", port: 8080 }] };
    const failure = await render("free", { settings: { charts: { services } } }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain("charts.services: no chart of phases 3 or 5");
    expect((failure as Error).message).toContain("bi / -> bi-workbench:3000");
  });

  it("refuses a TenantIngress whose backend no earlier release provides, with the exact message", () => {
    expect(unprovidedIngressBackends([{ service: "api-gateway", port: 8080 }])).toEqual(["bi / -> bi-workbench:3000"]);
    expect(unprovidedIngressBackends([{ service: "api-gateway", port: 8080 }, { service: "bi-workbench", port: 3000 }])).toEqual([]);
  });
});

describe("TLS settings", () => {
  it("takes the ClusterIssuer and the readiness timeout from the settings", async () => {
    const r = await render("enterprise", { lastPhase: 8, settings: { tls: { clusterIssuer: "letsencrypt-staging-dns01", readyTimeoutSeconds: 900 } } });
    const cert = r.ofType(CERTIFICATE_TYPE)[0]!;
    expect((cert.inputs.spec as CertificateSpec).issuerRef.name).toBe("letsencrypt-staging-dns01");
    expect(metadataOf(cert).annotations?.["pulumi.com/timeoutSeconds"]).toBe("900");
    expect(metadataOf(r.k8s("Ingress", "tenant-ingress")).annotations).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt-staging-dns01", "pulumi.com/patchForce": "true" });
  });
});
