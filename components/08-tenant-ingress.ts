import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, whenChildrenDone, requireArg, tenantLabels } from "./common.ts";
import { typeTokenOf } from "../model/phases.ts";

/** A Service and port in the tenant namespace. */
export interface ServiceBackend {
  readonly service: string;
  readonly port: number;
}

/**
 * The routes of the provisioning flow's Ingress: the API under `/api` on the
 * apex host and the BI workbench on `bi.`. The apex has no `/` route, so no
 * app URL on the apex is advertised.
 */
export const TENANT_INGRESS_ROUTES = [
  { host: "apex", path: "/api", backend: { service: "api-gateway", port: 8080 } },
  { host: "bi", path: "/", backend: { service: "bi-workbench", port: 3000 } },
] as const satisfies readonly { host: "apex" | "bi"; path: string; backend: ServiceBackend }[];

/** Routes whose backend is not among `provided`, as sentences naming the Service and port. */
export function unprovidedIngressBackends(provided: readonly ServiceBackend[]): string[] {
  return TENANT_INGRESS_ROUTES
    .filter((r) => !provided.some((p) => p.service === r.backend.service && p.port === r.backend.port))
    .map((r) => `${r.host} ${r.path} -> ${r.backend.service}:${r.backend.port}`);
}

export interface TenantIngressArgs {
  /** Tenant slug. Required. */
  slug: string;
  /** The tenant namespace. Required. */
  namespace: pulumi.Input<string>;
  /** Base domain; the tenant's host is `{slug}.{baseDomain}`. Required. */
  baseDomain: string;
  /** IngressClass of the tenant's controller. Required. */
  ingressClassName: pulumi.Input<string>;
  /** cert-manager ClusterIssuer solving DNS-01. Required. */
  clusterIssuer: string;
  /** Seconds to wait for the certificate to become Ready. Default 600. */
  certificateTimeoutSeconds?: number;
  /**
   * The Services releases of earlier phases provide (the charts' contract).
   * Every route's backend must be among them: the provider does not finish an
   * Ingress until each backend Service exists. Required.
   */
  providedServices: readonly ServiceBackend[];
}

/**
 * Phase 8, CREATE_TENANT_INGRESS: a cert-manager Certificate for the apex and
 * wildcard names, awaited until Ready, and the tenant Ingress with TLS, the API
 * on the apex host and the BI workbench on `bi.`.
 *
 * Rollback deletes the Certificate and the Ingress; the TLS Secret goes with
 * the Certificate only because the platform contract has cert-manager run with
 * `--enable-certificate-owner-ref` (docs/real-run.md). The Secret carries the
 * tenant labels, so a leftover one is attributable.
 */
export class TenantIngress extends pulumi.ComponentResource {
  public readonly hosts: pulumi.Output<string[]>;
  public readonly tlsSecretName: pulumi.Output<string>;
  public readonly urls: pulumi.Output<{ api: string; bi: string }>;

  constructor(name: string, args: TenantIngressArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("CREATE_TENANT_INGRESS"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const timeout = args.certificateTimeoutSeconds ?? 600;
    requireArg(Number.isInteger(timeout) && timeout > 0, "TenantIngress", `certificateTimeoutSeconds must be a positive whole number, got ${timeout}`);
    const missing = unprovidedIngressBackends(args.providedServices);
    requireArg(missing.length === 0, "TenantIngress", `no release of an earlier phase provides the backend of ${missing.join(", ")}; declare it in the charts' contract (settings charts.services)`);
    const apex = `${args.slug}.${args.baseDomain}`;
    const tlsSecretName = `${args.slug}-tls-certificate`;
    const labels = tenantLabels(args.slug, "ingress");

    const certificate = new k8s.apiextensions.CustomResource(`${name}-certificate`, {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: {
        // Named like its Secret, so the Ingress annotation's shim finds it and adds no second one.
        name: tlsSecretName,
        namespace: args.namespace,
        labels,
        annotations: { "pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": String(timeout) },
      },
      spec: {
        secretName: tlsSecretName,
        dnsNames: [apex, `*.${apex}`],
        issuerRef: { name: args.clusterIssuer, kind: "ClusterIssuer", group: "cert-manager.io" },
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        secretTemplate: { labels },
      },
    }, child());

    const backend = (service: string, port: number) => ({ service: { name: service, port: { number: port } } });
    new k8s.networking.v1.Ingress(`${name}-ingress`, {
      metadata: {
        name: "tenant-ingress",
        namespace: args.namespace,
        labels,
        annotations: { "cert-manager.io/cluster-issuer": args.clusterIssuer },
      },
      spec: {
        ingressClassName: args.ingressClassName,
        tls: [{ hosts: [apex, `*.${apex}`], secretName: tlsSecretName }],
        rules: TENANT_INGRESS_ROUTES.map((r) => ({
          host: r.host === "apex" ? apex : `bi.${apex}`,
          http: { paths: [{ path: r.path, pathType: "Prefix", backend: backend(r.backend.service, r.backend.port) }] },
        })),
      },
    }, child({ dependsOn: [certificate] }));

    // Resolved only after the Certificate is Ready and the Ingress is served.
    const outputs = whenChildrenDone(this, { hosts: [apex, `*.${apex}`], tlsSecretName, urls: { api: `https://${apex}/api`, bi: `https://bi.${apex}` } });
    this.hosts = outputs.hosts;
    this.tlsSecretName = outputs.tlsSecretName;
    this.urls = outputs.urls;
    this.registerOutputs(outputs);
  }
}
