import { createHash } from "node:crypto";
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

/**
 * Pods with this label set to "true" may reach the internet (phase 4's
 * `allow-connector-internet-egress`); every other pod reaches only what the
 * isolation table opens.
 */
export const INTERNET_EGRESS_LABEL = "matih.ai/internet-egress";

/**
 * The connectors: the matih services whose pods carry INTERNET_EGRESS_LABEL.
 * The seed blocks the internet "except for connector services" without naming
 * them; pipeline-service ("data pipeline orchestration", no dependency beyond
 * the database) is the one that pulls from customers' own sources. Every other
 * service works on data already in the platform. A service that must call out
 * (e.g. ai-service to a hosted model) has to be added here, deliberately.
 */
export const CONNECTOR_SERVICES: readonly string[] = ["pipeline-service"];

/**
 * `{prefix}{slug}{suffix}` when it fits in `max` characters. A longer one
 * keeps the slug's start and gains a hash of the whole slug, so the name is
 * the same on every run and two long slugs that share a prefix still differ;
 * a name the target system cuts or refuses silently is never produced.
 */
export function nameWithin(max: number, prefix: string, slug: string, suffix = ""): string {
  const plain = `${prefix}${slug}${suffix}`;
  if (plain.length <= max) return plain;
  const hash = createHash("sha256").update(slug).digest("hex").slice(0, 8);
  const keep = max - prefix.length - suffix.length - hash.length - 1;
  if (keep < 1) throw new Error(`no room for a slug in a name of at most ${max} characters starting "${prefix}" and ending "${suffix}"`);
  return `${prefix}${slug.slice(0, keep).replace(/-+$/, "")}-${hash}${suffix}`;
}

/** Grafana refuses (and its provisioning sidecar then drops, without an error) dashboards and data sources whose uid exceeds 40 characters. */
export const GRAFANA_UID_MAX = 40;

/** The uid of a tenant's Grafana dashboard (`tenant`) or data source (`prometheus`, `loki`, `tempo`), within Grafana's limit. */
export function grafanaUid(kind: "tenant" | "prometheus" | "loki" | "tempo", slug: string): string {
  return nameWithin(GRAFANA_UID_MAX, `${kind}-`, slug);
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

/** Children of each phase component, collected as they are constructed. */
const childrenOf = new WeakMap<pulumi.ComponentResource, pulumi.Resource[]>();

/**
 * Options for a child of a phase component: parented to it (so it inherits the
 * component's providers) and waiting for whatever the component waits for.
 * Pulumi does not pass a component's `dependsOn` on to its children, so
 * without this a phase's resources would start before the previous phase ends.
 * The child is also recorded, so that the component's outputs can wait for it
 * (see `whenChildrenDone`).
 */
export function childOptions(parent: pulumi.ComponentResource, componentOpts: pulumi.ComponentResourceOptions, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
  const collect: pulumi.ResourceTransformation = (a) => {
    // Runs in the child's constructor; grandchildren inherit it but have another parent.
    if (a.opts.parent === parent) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), a.resource]);
    return undefined;
  };
  return {
    ...extra,
    parent,
    dependsOn: [...resourceList(componentOpts.dependsOn), ...resourceList(extra.dependsOn)],
    transformations: [...(extra.transformations ?? []), collect],
  };
}

/**
 * The component's outputs, each resolving only once every child declared so
 * far is done. The SDK registers a component's outputs (and the engine then
 * reports the phase done) as soon as the values given to `registerOutputs`
 * resolve, not when the children finish; a custom resource's `id` resolves
 * only when its provider is done with it (a Job completed, a Certificate
 * Ready, a release's pods ready), so gating on every child's `id` makes the
 * phase complete after its last child. Call it last in the constructor.
 */
export function whenChildrenDone<T extends Record<string, unknown>>(parent: pulumi.ComponentResource, outputs: T): { [K in keyof T]: pulumi.Output<pulumi.Unwrap<T[K]>> } {
  const children = childrenOf.get(parent) ?? [];
  const done = pulumi.all(children.map((c) => (pulumi.CustomResource.isInstance(c) ? c.id : c.urn)));
  const gated: Record<string, pulumi.Output<unknown>> = {};
  for (const [key, value] of Object.entries(outputs)) gated[key] = done.apply(() => pulumi.output(value));
  return gated as { [K in keyof T]: pulumi.Output<pulumi.Unwrap<T[K]>> };
}

/** How many children a component has recorded so far (for tests). */
export function recordedChildren(parent: pulumi.ComponentResource): readonly pulumi.Resource[] {
  return childrenOf.get(parent) ?? [];
}
