import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions, whenChildrenDone, requireArg } from "./common.ts";
import { checkReleaseSettings, CORE_SERVICES, matihRelease, type CoreService, type MatihReleaseSettings } from "./03-core-services.ts";
import { typeTokenOf } from "../model/phases.ts";

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
    const outputs = whenChildrenDone(this, { releaseNames: pulumi.all(DATA_SERVICES.map((s) => this.releases[s].name)) });
    this.releaseNames = outputs.releaseNames;
    this.registerOutputs(outputs);
  }
}
