import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, whenChildrenDone, requireArg } from "./common.ts";
import { checkReleaseSettings, CORE_SERVICES, matihRelease, type CoreService, type MatihReleaseSettings } from "./03-core-services.ts";
import { typeTokenOf } from "../model/phases.ts";
import type { ChartService } from "../model/settings.ts";

/**
 * The data services of phase 5 and what each needs first. Dependencies on
 * phase 3 services are edges to those releases; teardown follows them in reverse.
 */
export const DATA_SERVICE_DEPENDENCIES = {
  "pipeline-service": [],
  "semantic-layer": ["catalog-service"],
  "bi-service": ["semantic-layer", "query-engine"],
  "data-quality-service": ["catalog-service"],
  "ml-service": ["query-engine"],
  "render-service": ["bi-service"],
} as const satisfies Record<string, readonly string[]>;
export type DataService = keyof typeof DATA_SERVICE_DEPENDENCIES;
export const DATA_SERVICES = Object.keys(DATA_SERVICE_DEPENDENCIES) as DataService[];

export interface DataServicesArgs extends MatihReleaseSettings {
  /** The phase 3 releases the data services depend on. Required. */
  coreReleases: Readonly<Record<CoreService, pulumi.Resource>>;
  /**
   * The Services each chart of phases 3 and 5 creates, by the charts'
   * contract (settings `charts.services`). Each is read back from the cluster
   * once its release is up, and the phase fails when one is missing, lacks
   * its port or selects no pods: the tenant Ingress of phase 8 routes to them,
   * and the provider's Ingress wait only warns about a missing backend, so a
   * broken contract would otherwise surface as 503s. Default: none read.
   */
  contractServices?: Readonly<Record<string, readonly ChartService[]>>;
}

/**
 * Phase 5, DEPLOY_DATA_SERVICES: the six data services, each released after
 * the services it depends on (including phase 3's), so that teardown runs in
 * reverse dependency order.
 */
export class DataServices extends pulumi.ComponentResource {
  public readonly releases: Readonly<Record<DataService, k8s.helm.v3.Release>>;
  public readonly releaseNames: pulumi.Output<string[]>;

  constructor(name: string, args: DataServicesArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(typeTokenOf("DEPLOY_DATA_SERVICES"), name, {}, opts);
    const child = (extra: pulumi.CustomResourceOptions = {}) => childOptions(this, opts, extra);
    checkReleaseSettings("DataServices", args);
    for (const core of CORE_SERVICES) requireArg(!!args.coreReleases[core], "DataServices", `coreReleases is missing "${core}"`);
    const releases: Partial<Record<DataService, k8s.helm.v3.Release>> = {};
    for (const service of DATA_SERVICES) {
      const needs = DATA_SERVICE_DEPENDENCIES[service].map((dep: string) => releases[dep as DataService] ?? args.coreReleases[dep as CoreService]);
      releases[service] = matihRelease(name, service, args, child({ dependsOn: needs }));
    }
    this.releases = releases as Record<DataService, k8s.helm.v3.Release>;
    const servicesChecked = checkContractServices(name, args, { ...args.coreReleases, ...this.releases }, child);
    const outputs = whenChildrenDone(this, { releaseNames: pulumi.all(DATA_SERVICES.map((s) => this.releases[s].name)), servicesChecked });
    this.releaseNames = outputs.releaseNames;
    this.registerOutputs(outputs);
  }
}

/**
 * Reads back every Service of the charts' contract after its release and
 * checks it serves the contract's port to some pods. The read's ID depends on
 * the release's ID, which a preview of a new tenant does not know yet, so a
 * first preview reads nothing.
 */
function checkContractServices(
  name: string,
  args: DataServicesArgs,
  releases: Readonly<Record<string, pulumi.Resource>>,
  child: (extra?: pulumi.CustomResourceOptions) => pulumi.CustomResourceOptions,
): pulumi.Output<string[]> {
  const checks: pulumi.Output<string>[] = [];
  const seen = new Set<string>();
  for (const [chart, services] of Object.entries(args.contractServices ?? {})) {
    const release = releases[chart];
    requireArg(!!release, "DataServices", `contractServices names chart "${chart}", which phases 3 and 5 do not release`);
    for (const { service, port } of services) {
      requireArg(!seen.has(service), "DataServices", `contractServices lists Service "${service}" twice`);
      seen.add(service);
      const releaseId = pulumi.CustomResource.isInstance(release) ? release.id : release.urn;
      const id = pulumi.all([releaseId, args.namespace]).apply(([, ns]) => `${ns}/${service}`);
      const read = k8s.core.v1.Service.get(`${name}-${service}-service`, id, child({ dependsOn: [release] }));
      checks.push(read.spec.apply((spec) => {
        const ports = (spec?.ports ?? []).map((p) => p.port);
        if (!ports.includes(port)) {
          throw new Error(`Service ${service} of chart ${chart} serves port${ports.length === 1 ? "" : "s"} ${ports.join(", ") || "none"}, not ${port} as the charts' contract (charts.services) says`);
        }
        if (Object.keys(spec?.selector ?? {}).length === 0) {
          throw new Error(`Service ${service} of chart ${chart} selects no pods, so nothing would answer on port ${port}`);
        }
        return `${service}:${port}`;
      }));
    }
  }
  return pulumi.all(checks);
}
