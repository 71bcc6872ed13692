import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, whenChildrenDone, k8sResources, requireArg, tenantLabels } from "./common.ts";
import type { ComputeResources, ResourceQuotaProfile, Tier } from "../model/tiers.ts";
import { typeTokenOf } from "../model/phases.ts";
import { namespaceName } from "../model/spec.ts";

export interface TenantNamespaceArgs {
  /** Tenant UUID, recorded in the `matih.ai/tenant-id` label. Required. */
  tenantId: string;
  /** Tenant slug; the namespace is `matih-{slug}`. Required. */
  slug: string;
  /** Tier, recorded in the `matih.ai/tier` label. Required. */
  tier: Tier;
  /** Azure region, recorded in the `matih.ai/region` label. Required. */
  region: string;
  /** When the tenant was requested (ISO 8601), the `matih.ai/provisioned-at` annotation. Required. */
  provisionedAt: string;
  /** Who requested the tenant, the `matih.ai/provisioned-by` annotation. Required. */
  provisionedBy: string;
  /** ResourceQuota of the namespace; null for no quota. Default: null. */
  quota?: ResourceQuotaProfile | null;
  /** Container defaults applied by a LimitRange. Required when a quota is set, since a quota refuses pods without requests; default: none. */
  containerDefaults?: ComputeResources;
}

/**
 * Phase 1, CREATE_NAMESPACE: the tenant namespace with its identifying labels
 * and cost annotations, the tenant's service account, RBAC confined to the
 * namespace, and the tier's quota with the container defaults it needs.
 * Deleting it deletes everything in the namespace.
 */
export class TenantNamespace extends pulumi.ComponentResource {
  public readonly namespaceName: pulumi.Output<string>;
  public readonly serviceAccountName: pulumi.Output<string>;
  public readonly namespace: k8s.core.v1.Namespace;

  constructor(name: string, args: TenantNamespaceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("CREATE_NAMESPACE"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    requireArg(!(args.quota && !args.containerDefaults), "TenantNamespace", "containerDefaults is required when a quota is set: without a LimitRange, pods that declare no requests are refused by the quota");
    requireArg(/^\d{4}-\d\d-\d\dT/.test(args.provisionedAt), "TenantNamespace", `provisionedAt must be an ISO 8601 timestamp, got "${args.provisionedAt}"`);

    const nsName = namespaceName(args.slug);
    const labels = tenantLabels(args.slug, "namespace");

    this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
      metadata: {
        name: nsName,
        labels: {
          "matih.ai/tenant-id": args.tenantId,
          "matih.ai/tenant-slug": args.slug,
          "matih.ai/tier": args.tier,
          "matih.ai/region": args.region,
          "matih.ai/managed-by": "tenant-service",
        },
        annotations: {
          "matih.ai/provisioned-at": args.provisionedAt,
          "matih.ai/provisioned-by": args.provisionedBy,
        },
      },
    }, child());
    const namespace = this.namespace.metadata.name;

    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-service-account`, {
      metadata: { name: "tenant-workload", namespace, labels },
      // Workloads that need the API opt in; the default is no token in the pod.
      automountServiceAccountToken: false,
    }, child());

    const role = new k8s.rbac.v1.Role(`${name}-role`, {
      metadata: { name: "tenant-workload", namespace, labels },
      rules: [
        { apiGroups: [""], resources: ["configmaps", "pods", "services", "endpoints"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: ["tenant-database-credentials"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "watch", "create", "delete"] },
      ],
    }, child());

    new k8s.rbac.v1.RoleBinding(`${name}-role-binding`, {
      metadata: { name: "tenant-workload", namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace }],
    }, child());

    if (args.quota) {
      new k8s.core.v1.ResourceQuota(`${name}-quota`, {
        metadata: { name: "tenant-quota", namespace, labels },
        spec: {
          hard: {
            "requests.cpu": args.quota.cpuRequest,
            "limits.cpu": args.quota.cpuLimit,
            "requests.memory": args.quota.memoryRequest,
            "limits.memory": args.quota.memoryLimit,
            pods: String(args.quota.pods),
          },
        },
      }, child());
    }
    if (args.containerDefaults) {
      const d = k8sResources(args.containerDefaults);
      new k8s.core.v1.LimitRange(`${name}-limit-range`, {
        metadata: { name: "tenant-container-defaults", namespace, labels },
        spec: { limits: [{ type: "Container", defaultRequest: d.requests, default: d.limits }] },
      }, child());
    }

    const outputs = whenChildrenDone(this, { namespaceName: namespace, serviceAccountName: serviceAccount.metadata.name });
    this.namespaceName = outputs.namespaceName;
    this.serviceAccountName = outputs.serviceAccountName;
    this.registerOutputs(outputs);
  }
}
