import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, requireArg, tenantLabels } from "./common.ts";
import { typeTokenOf } from "../model/phases.ts";

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
}

/**
 * Phase 8, CREATE_TENANT_INGRESS: a cert-manager Certificate for the apex and
 * wildcard names, awaited until Ready, and the tenant Ingress with TLS, the API
 * on the apex host and the BI workbench on `bi.`.
 */
export class TenantIngress extends pulumi.ComponentResource {
  public readonly hosts: pulumi.Output<string[]>;
  public readonly tlsSecretName: pulumi.Output<string>;
  public readonly urls: pulumi.Output<{ app: string; api: string; bi: string }>;

  constructor(name: string, args: TenantIngressArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("CREATE_TENANT_INGRESS"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const timeout = args.certificateTimeoutSeconds ?? 600;
    requireArg(Number.isInteger(timeout) && timeout > 0, "TenantIngress", `certificateTimeoutSeconds must be a positive whole number, got ${timeout}`);
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
        rules: [
          { host: apex, http: { paths: [{ path: "/api", pathType: "Prefix", backend: backend("api-gateway", 8080) }] } },
          { host: `bi.${apex}`, http: { paths: [{ path: "/", pathType: "Prefix", backend: backend("bi-workbench", 3000) }] } },
        ],
      },
    }, child({ dependsOn: [certificate] }));

    this.hosts = pulumi.output([apex, `*.${apex}`]);
    this.tlsSecretName = pulumi.output(tlsSecretName);
    this.urls = pulumi.output({ app: `https://${apex}`, api: `https://${apex}/api`, bi: `https://bi.${apex}` });
    this.registerOutputs({ hosts: this.hosts, tlsSecretName: this.tlsSecretName, urls: this.urls });
  }
}
