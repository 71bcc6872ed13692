import * as pulumi from "@pulumi/pulumi";
import type { ComputeResources } from "../model/tiers.ts";

/** Labels every object the program creates carries, so that it can be found and attributed. */
export function tenantLabels(slug: string, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/part-of": "matih",
    "app.kubernetes.io/component": component,
    "matih.ai/tenant-slug": slug,
  };
}

/** Kubernetes `resources` block from a tier profile entry. */
export function k8sResources(r: ComputeResources): { requests: Record<string, string>; limits: Record<string, string> } {
  return { requests: { ...r.requests }, limits: { ...r.limits } };
}

/**
 * Throws an Error with the component's name when an argument is out of range,
 * before any child resource is declared.
 */
export function requireArg(condition: boolean, component: string, message: string): asserts condition {
  if (!condition) throw new Error(`${component}: ${message}`);
}

function resourceList(deps: pulumi.Input<pulumi.Input<pulumi.Resource>[]> | pulumi.Input<pulumi.Resource> | undefined): pulumi.Input<pulumi.Resource>[] {
  if (deps === undefined) return [];
  if (Array.isArray(deps)) return deps;
  if (pulumi.Resource.isInstance(deps)) return [deps];
  throw new Error("dependsOn of a phase component must be a resource or an array of resources");
}

/**
 * Options for a child of a phase component: parented to it (so it inherits the
 * component's providers) and waiting for whatever the component waits for.
 * Pulumi does not pass a component's `dependsOn` on to its children, so
 * without this a phase's resources would start before the previous phase ends.
 */
export function childOptions(parent: pulumi.ComponentResource, componentOpts: pulumi.ComponentResourceOptions, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
  return { ...extra, parent, dependsOn: [...resourceList(componentOpts.dependsOn), ...resourceList(extra.dependsOn)] };
}
