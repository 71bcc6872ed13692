import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, nameWithin, whenChildrenDone, requireArg, tenantLabels } from "./common.ts";
import { typeTokenOf } from "../model/phases.ts";

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
  /**
   * Whether to read the controller's Service back for its load-balancer
   * address. False in a teardown (`destroy --run-program`): a read declared
   * for a release that never finished would be added to the state under a
   * component being deleted, and the CLI refuses that snapshot ("refers to
   * missing parent"; seen with phase 5's read). The address is then empty.
   * Default: true.
   */
  readLoadBalancerAddress?: boolean;
}

/**
 * Longest `fullnameOverride`: the chart names objects `{fullname}-{suffix}`
 * and cuts them at 63 characters; the longest suffix it can use is
 * `-defaultbackend` (15), so a fullname of at most 48 is never cut.
 */
const MAX_FULLNAME = 63 - "-defaultbackend".length;

/**
 * The chart's `fullname` for a tenant, `ingress-nginx-{slug}`. The chart names
 * its cluster-wide ClusterRole and ClusterRoleBinding after it, so it must
 * differ between tenants: with the chart's default every tenant's release
 * would claim the same `ingress-nginx` ClusterRole and Helm would refuse the
 * second. A slug too long to fit keeps its start and gains a hash of the
 * whole slug, so two long slugs that share a prefix still differ.
 */
export function ingressControllerFullname(slug: string): string {
  return nameWithin(MAX_FULLNAME, `${INGRESS_CONTROLLER_RELEASE}-`, slug);
}

/** The controller's LoadBalancer Service, `{fullname}-controller`, as the chart names it. */
export function ingressControllerServiceName(slug: string): string {
  return `${ingressControllerFullname(slug)}-controller`;
}

/** The ingress-nginx values of a tenant's controller. */
export function ingressNginxValues(slug: string, namespace: string, replicas: number): Record<string, unknown> {
  return {
    // Tenant-unique names for everything the chart creates, cluster-scoped objects included.
    fullnameOverride: ingressControllerFullname(slug),
    // Namespaced RBAC only: without it the chart's ClusterRole lets every
    // tenant's internet-facing controller list secrets, configmaps and pods in
    // every namespace (seen with the real API server's SubjectAccessReview).
    // The one cluster-scoped read it needs, IngressClasses, the component grants.
    rbac: { create: true, scope: true },
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
    super(typeTokenOf("DEPLOY_INGRESS_CONTROLLER"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    const C = "IngressController";
    const wait = args.loadBalancerWaitSeconds ?? MAX_LOAD_BALANCER_WAIT_SECONDS;
    const replicas = args.replicas ?? 2;
    requireArg(Number.isInteger(wait) && wait > 0 && wait <= MAX_LOAD_BALANCER_WAIT_SECONDS, C, `loadBalancerWaitSeconds must be a whole number from 1 to ${MAX_LOAD_BALANCER_WAIT_SECONDS}, got ${wait}`);
    requireArg(Number.isInteger(replicas) && replicas >= 1, C, `replicas must be a whole number of at least 1, got ${replicas}`);

    // With rbac.scope the chart grants nothing cluster-wide; the controller
    // still reads IngressClasses, which no Role can grant. Nothing else.
    const fullname = ingressControllerFullname(args.slug);
    const ingressClassReader = new k8s.rbac.v1.ClusterRole(`${name}-ingressclass-reader`, {
      metadata: { name: fullname, labels: tenantLabels(args.slug, "ingress-controller") },
      rules: [{ apiGroups: ["networking.k8s.io"], resources: ["ingressclasses"], verbs: ["get", "list", "watch"] }],
    }, child());
    const ingressClassReaderBinding = new k8s.rbac.v1.ClusterRoleBinding(`${name}-ingressclass-reader`, {
      metadata: { name: fullname, labels: tenantLabels(args.slug, "ingress-controller") },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: ingressClassReader.metadata.name },
      // The chart's controller ServiceAccount is named after its fullname.
      subjects: [{ kind: "ServiceAccount", name: fullname, namespace: args.namespace }],
    }, child());

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
    }, child({ dependsOn: [ingressClassReaderBinding] }));

    // Read the controller Service once the release is up; its ID is only known
    // after the release, so a first preview does not try to read it.
    const serviceName = ingressControllerServiceName(args.slug);
    const serviceId = pulumi.all([this.release.status, args.namespace]).apply(([status, ns]) => `${status?.namespace ?? ns}/${serviceName}`);
    const loadBalancerIp = args.readLoadBalancerAddress === false
      ? this.release.status.apply(() => "")
      : k8s.core.v1.Service.get(`${name}-service`, serviceId, child({ dependsOn: [this.release] })).status.apply((status) => {
        const ingress = status?.loadBalancer?.ingress?.[0];
        const ip = ingress?.ip ?? ingress?.hostname;
        if (!ip) {
          throw new Error(`no external IP assigned to ${serviceName} within ${wait}s`);
        }
        return ip;
      });
    const outputs = whenChildrenDone(this, { loadBalancerIp, ingressClassName: `nginx-${args.slug}` });
    this.loadBalancerIp = outputs.loadBalancerIp;
    this.ingressClassName = outputs.ingressClassName;
    this.registerOutputs(outputs);
  }
}
