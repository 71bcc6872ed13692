import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, requireArg, tenantLabels } from "./common.ts";

/** The seed's upper bound for the load balancer to get its IP. */
export const MAX_LOAD_BALANCER_WAIT_SECONDS = 600;
export const INGRESS_CONTROLLER_RELEASE = "ingress-nginx";

export interface IngressControllerArgs {
  /** Tenant slug; names the IngressClass `nginx-{slug}`. Required. */
  slug: string;
  /** Namespace of the controller (the tenant's). Required. */
  namespace: pulumi.Input<string>;
  /** ingress-nginx chart repository. Required. */
  chartRepository: string;
  /** ingress-nginx chart version. Required. */
  chartVersion: string;
  /** Controller pods. Default 2. */
  replicas?: number;
  /** Seconds to wait for the load balancer's external IP, at most 600. Default 600. */
  loadBalancerWaitSeconds?: number;
}

/** The ingress-nginx values of a tenant's controller. */
export function ingressNginxValues(slug: string, namespace: string, replicas: number): Record<string, unknown> {
  return {
    controller: {
      ingressClassResource: { name: `nginx-${slug}`, enabled: true, default: false, controllerValue: `k8s.io/ingress-nginx-${slug}` },
      ingressClass: `nginx-${slug}`,
      replicaCount: replicas,
      service: {
        type: "LoadBalancer",
        annotations: { "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz" },
      },
      admissionWebhooks: { enabled: false },
      resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
      // Watch only this namespace, so tenants' controllers never serve each other's Ingresses.
      scope: { enabled: true, namespace },
      podLabels: { "matih.ai/tenant-slug": slug },
      publishService: { enabled: true },
    },
  };
}

/**
 * Phase 6, DEPLOY_INGRESS_CONTROLLER: a dedicated ingress-nginx in the tenant
 * namespace with its own IngressClass and LoadBalancer Service. The phase waits
 * (at most 600 s) for the load balancer's external IP, which becomes an output;
 * without one the phase fails and is retried.
 */
export class IngressController extends pulumi.ComponentResource {
  public readonly loadBalancerIp: pulumi.Output<string>;
  public readonly ingressClassName: pulumi.Output<string>;
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: IngressControllerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("matih:ingress:IngressController", name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "IngressController";
    const wait = args.loadBalancerWaitSeconds ?? MAX_LOAD_BALANCER_WAIT_SECONDS;
    const replicas = args.replicas ?? 2;
    requireArg(Number.isInteger(wait) && wait > 0 && wait <= MAX_LOAD_BALANCER_WAIT_SECONDS, C, `loadBalancerWaitSeconds must be a whole number from 1 to ${MAX_LOAD_BALANCER_WAIT_SECONDS}, got ${wait}`);
    requireArg(Number.isInteger(replicas) && replicas >= 1, C, `replicas must be a whole number of at least 1, got ${replicas}`);

    this.release = new k8s.helm.v3.Release(`${name}-release`, {
      name: INGRESS_CONTROLLER_RELEASE,
      chart: "ingress-nginx",
      version: args.chartVersion,
      repositoryOpts: { repo: args.chartRepository },
      namespace: args.namespace,
      values: pulumi.output(args.namespace).apply((ns) => ingressNginxValues(args.slug, ns, replicas)),
      // Helm's wait includes the LoadBalancer Service having an address.
      skipAwait: false,
      timeout: wait,
      atomic: true,
      cleanupOnFail: true,
      maxHistory: 5,
    }, child());

    // Read the controller Service once the release is up; its ID is only known
    // after the release, so a first preview does not try to read it.
    const serviceId = pulumi.all([this.release.status, args.namespace]).apply(([status, ns]) => `${status?.namespace ?? ns}/${INGRESS_CONTROLLER_RELEASE}-controller`);
    const service = k8s.core.v1.Service.get(`${name}-service`, serviceId, child({ dependsOn: [this.release] }));
    this.loadBalancerIp = service.status.apply((status) => {
      const ingress = status?.loadBalancer?.ingress?.[0];
      const ip = ingress?.ip ?? ingress?.hostname;
      if (!ip) {
        throw new Error(`no external IP assigned to ${INGRESS_CONTROLLER_RELEASE}-controller within ${wait}s`);
      }
      return ip;
    });
    this.ingressClassName = pulumi.output(`nginx-${args.slug}`);
    this.registerOutputs({ loadBalancerIp: this.loadBalancerIp, ingressClassName: this.ingressClassName });
  }
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
    super("matih:ingress:TenantIngress", name, {}, opts);
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
