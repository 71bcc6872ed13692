import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, CONNECTOR_SERVICES, INTERNET_EGRESS_LABEL, whenChildrenDone, k8sResources, requireArg } from "./common.ts";
import type { ComputeResources } from "../model/tiers.ts";
import { typeTokenOf } from "../model/phases.ts";
import { CREDENTIALS_CHECKSUM_ANNOTATION } from "./02-database.ts";

/** The core services of phase 3, in the order they are installed (uninstalled in reverse). */
export const CORE_SERVICES = ["query-engine", "ai-service", "catalog-service"] as const;
export type CoreService = (typeof CORE_SERVICES)[number];

/** Settings shared by every matih service release (phases 3 and 5). */
export interface MatihReleaseSettings {
  /** Namespace the releases go to. Required. */
  namespace: pulumi.Input<string>;
  /** Tenant UUID, passed to every service as `TENANT_ID`. Required. */
  tenantId: string;
  /** Tenant slug, labels the pods. Required. */
  slug: string;
  /** Helm repository URL of the matih charts. Required. */
  chartRepository: string;
  /** Chart version. Required. */
  chartVersion: string;
  /** Image per service: repository and tag. Required. */
  image: (service: string) => { repository: string; tag: string };
  /** Name of the Secret with `DATABASE_URL`. Required. */
  credentialsSecretName: pulumi.Input<string>;
  /** Digest of that Secret (phase 2's `credentialsChecksum`), a pod annotation so a change rolls the pods. Required. */
  credentialsChecksum: pulumi.Input<string>;
  /** Pods per service. Required. */
  replicas: number;
  /** Requests and limits per pod. Required. */
  resources: ComputeResources;
  /** Seconds Helm waits for the pods to be ready. Default 300. */
  timeoutSeconds?: number;
}

/** Tenant values of a matih chart: tenant id, database URL from the Secret, sizes, pod labels (the internet-egress label for connectors). */
export function matihServiceValues(service: string, s: MatihReleaseSettings): Record<string, unknown> {
  return {
    replicaCount: s.replicas,
    image: s.image(service),
    env: [
      { name: "TENANT_ID", value: s.tenantId },
      { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: s.credentialsSecretName, key: "DATABASE_URL" } } },
    ],
    resources: k8sResources(s.resources),
    podLabels: {
      "matih.ai/tenant-slug": s.slug,
      "app.kubernetes.io/part-of": "matih",
      // Only connectors get the label phase 4's internet egress selects; the charts put podLabels on the pods.
      ...(CONNECTOR_SERVICES.includes(service) ? { [INTERNET_EGRESS_LABEL]: "true" } : {}),
    },
    serviceAccount: { create: false, name: "tenant-workload" },
    // The pods read DATABASE_URL from the Secret at start only: a new digest in the template restarts them on new settings.
    podAnnotations: { [CREDENTIALS_CHECKSUM_ANNOTATION]: s.credentialsChecksum },
  };
}

export function matihRelease(name: string, service: string, s: MatihReleaseSettings, opts: pulumi.CustomResourceOptions): k8s.helm.v3.Release {
  return new k8s.helm.v3.Release(`${name}-${service}`, {
    name: service,
    chart: service,
    version: s.chartVersion,
    repositoryOpts: { repo: s.chartRepository },
    namespace: s.namespace,
    values: matihServiceValues(service, s),
    // Wait for every pod to be Running and Ready before the release counts as done.
    skipAwait: false,
    waitForJobs: true,
    timeout: s.timeoutSeconds ?? 300,
    atomic: true,
    cleanupOnFail: true,
    maxHistory: 5,
    createNamespace: false,
  }, opts);
}

export function checkReleaseSettings(component: string, s: MatihReleaseSettings): void {
  requireArg(Number.isInteger(s.replicas) && s.replicas >= 1, component, `replicas must be a whole number of at least 1, got ${s.replicas}`);
  requireArg(s.timeoutSeconds === undefined || s.timeoutSeconds > 0, component, `timeoutSeconds must be positive, got ${s.timeoutSeconds}`);
  requireArg(/^https?:\/\/|^oci:\/\//.test(s.chartRepository), component, `chartRepository must be an http(s) or oci URL, got "${s.chartRepository}"`);
}

export type CoreServicesArgs = MatihReleaseSettings;

/**
 * Phase 3, DEPLOY_CORE_SERVICES: query-engine, ai-service and catalog-service
 * as Helm releases, each awaited until its pods are ready. Each release
 * depends on the one before, so they are uninstalled in reverse order.
 */
export class CoreServices extends pulumi.ComponentResource {
  public readonly releases: Readonly<Record<CoreService, k8s.helm.v3.Release>>;
  public readonly releaseNames: pulumi.Output<string[]>;

  constructor(name: string, args: CoreServicesArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("DEPLOY_CORE_SERVICES"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    checkReleaseSettings("CoreServices", args);
    const releases: Partial<Record<CoreService, k8s.helm.v3.Release>> = {};
    let previous: k8s.helm.v3.Release | undefined;
    for (const service of CORE_SERVICES) {
      previous = matihRelease(name, service, args, child({ dependsOn: previous ? [previous] : [] }));
      releases[service] = previous;
    }
    this.releases = releases as Record<CoreService, k8s.helm.v3.Release>;
    const outputs = whenChildrenDone(this, { releaseNames: pulumi.all(CORE_SERVICES.map((s) => this.releases[s].name)) });
    this.releaseNames = outputs.releaseNames;
    this.registerOutputs(outputs);
  }
}
