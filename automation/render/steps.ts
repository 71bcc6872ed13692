/**
 * What an update would do, worked out by comparing a fresh render with the
 * recorded state: per resource an operation and the property paths that
 * change, grouped by phase in the order a Pulumi update runs them (phases in
 * order, then phases past `lastPhase` removed from the highest down, each in
 * reverse dependency order).
 *
 * Replacements are an approximation of what providers decide: a change at a
 * path that names the object (Kubernetes name and namespace, Azure names and
 * location), at an immutable field the engine is known to replace on, or any
 * change to a random value. Real runs use the providers' own diffs.
 */
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { isPhaseComponent, phaseRefOfUrn } from "../core/phase-tracker.ts";
import { changedPaths, formatPath, pathIsWithin, valueAt } from "../core/property-paths.ts";
import type { PhaseAction, PropertyDiff, ResourceChange, ResourceOp } from "../core/types.ts";

export interface PlannedStep {
  /** The desired resource, or for a delete the recorded one. */
  readonly resource: RenderedResource;
  readonly op: ResourceOp;
  readonly changedPaths: readonly string[];
  readonly replaceReasons: readonly string[];
  /** The resource as recorded before this step; null for a create. */
  readonly before: RenderedResource | null;
}

export interface PhasePlan {
  readonly phase: number;
  readonly action: PhaseAction;
  /** The phase component's step; null while the program does not declare the phase yet. */
  readonly component: PlannedStep | null;
  /** Every other resource of the phase, in the order they run. */
  readonly children: readonly PlannedStep[];
}

export interface UpdatePlan {
  /** Resources outside any phase (providers) that the program declares; they run first. */
  readonly unphased: readonly PlannedStep[];
  readonly apply: readonly PhasePlan[];
  readonly remove: readonly PhasePlan[];
  /** Resources outside any phase that are no longer declared; deleted last. */
  readonly unphasedDeletes: readonly PlannedStep[];
}

function forcesReplacement(type: string, path: string): boolean {
  const within = (prefix: string) => pathIsWithin(path, prefix);
  if (type.startsWith("random:")) return true;
  if (type.startsWith("pulumi:providers:")) return false;
  if (type === "kubernetes:helm.sh/v3:Release") return within("name") || within("namespace");
  if (type.startsWith("kubernetes:")) {
    if (within("metadata.name") || within("metadata.namespace")) return true;
    if (/^kubernetes:apps\/v1:(Deployment|StatefulSet|DaemonSet)$/.test(type) && within("spec.selector")) return true;
    if (type === "kubernetes:batch/v1:Job" && within("spec")) return true; // a Job's template is immutable
    if (type === "kubernetes:core/v1:Secret" && within("type")) return true;
    return false;
  }
  if (type.startsWith("azure-native:")) {
    const top = path.split(/[.[]/)[0] ?? "";
    return top === "location" || top === "recordType" || top.endsWith("Name");
  }
  if (type.startsWith("postgresql:")) return within("database");
  return false;
}

/** Paths of secrets whose value differs (or that appear or disappear), which "[secret]" on both sides would hide. */
function changedSecretPaths(before: RenderedResource, after: RenderedResource): string[] {
  const digests = (r: RenderedResource) => new Map((r.secretDigests ?? []).map((d) => [formatPath(d.path), d.digest]));
  const old = digests(before);
  const now = digests(after);
  return [...new Set([...old.keys(), ...now.keys()])].filter((p) => old.get(p) !== now.get(p));
}

/** How `after` differs from `before` (same URN). */
export function diffResource(before: RenderedResource, after: RenderedResource): Omit<PlannedStep, "resource"> {
  if (after.read) return { op: "read", changedPaths: [], replaceReasons: [], before };
  if (!after.custom) return { op: "same", changedPaths: [], replaceReasons: [], before };
  const paths = [...new Set([...changedPaths(before.inputs, after.inputs), ...changedSecretPaths(before, after)])].sort();
  if (paths.length === 0) return { op: "same", changedPaths: [], replaceReasons: [], before };
  const reasons = paths.filter((p) => forcesReplacement(after.type, p));
  return { op: reasons.length > 0 ? "replace" : "update", changedPaths: paths, replaceReasons: reasons, before };
}

function createStep(resource: RenderedResource): PlannedStep {
  return { resource, op: resource.read ? "read" : "create", changedPaths: [], replaceReasons: [], before: null };
}

function deleteStep(resource: RenderedResource): PlannedStep {
  return { resource, op: "delete", changedPaths: [], replaceReasons: [], before: resource };
}

/**
 * Resources in an order that deletes each one only after everything that
 * depends on it, is parented to it or uses it as provider. Among resources
 * that are free to go, the one registered last goes first, as Pulumi does.
 */
export function deletionOrder(resources: readonly RenderedResource[]): RenderedResource[] {
  const index = new Map(resources.map((r, i) => [r.urn, i]));
  const dependents = new Map<string, number>(resources.map((r) => [r.urn, 0]));
  const dependencies = (r: RenderedResource) =>
    [...new Set([...r.dependsOn, ...(r.parent ? [r.parent] : []), ...(r.provider ? [r.provider] : [])])].filter((u) => index.has(u) && u !== r.urn);
  for (const r of resources) for (const d of dependencies(r)) dependents.set(d, dependents.get(d)! + 1);

  const order: RenderedResource[] = [];
  const done = new Set<string>();
  while (order.length < resources.length) {
    let next: RenderedResource | undefined;
    for (let i = resources.length - 1; i >= 0; i--) {
      const candidate = resources[i]!;
      if (!done.has(candidate.urn) && dependents.get(candidate.urn) === 0) {
        next = candidate;
        break;
      }
    }
    // A cycle cannot come out of a Pulumi program; if one did, fall back to reverse registration order.
    next ??= [...resources].reverse().find((r) => !done.has(r.urn))!;
    done.add(next.urn);
    order.push(next);
    for (const d of dependencies(next)) dependents.set(d, dependents.get(d)! - 1);
  }
  return order;
}

function byPhase(resources: readonly RenderedResource[]): Map<number, RenderedResource[]> {
  const map = new Map<number, RenderedResource[]>();
  for (const r of resources) {
    const phase = phaseRefOfUrn(r.urn)?.number;
    if (phase === undefined) continue;
    let list = map.get(phase);
    if (!list) map.set(phase, (list = []));
    list.push(r);
  }
  return map;
}

function removalPlan(phase: number, recorded: readonly RenderedResource[]): PhasePlan {
  const ordered = deletionOrder(recorded);
  const component = ordered.find((r) => isPhaseComponent(r.urn, r.type));
  return {
    phase,
    action: "remove",
    component: component ? deleteStep(component) : null,
    children: ordered.filter((r) => r !== component).map(deleteStep),
  };
}

/**
 * The steps that take the recorded state to the desired one. Every phase
 * from 1 to `lastPhase` gets an entry, declared by the program or not, so
 * that progress and rehearsal faults follow the seed's phase table.
 */
export function planUpdate(desired: readonly RenderedResource[], recorded: readonly RenderedResource[], lastPhase: number): UpdatePlan {
  const before = new Map(recorded.map((r) => [r.urn, r]));
  const wanted = new Set(desired.map((r) => r.urn));
  const step = (r: RenderedResource): PlannedStep => {
    const old = before.get(r.urn);
    return old ? { resource: r, ...diffResource(old, r) } : createStep(r);
  };

  const desiredByPhase = byPhase(desired);
  const recordedByPhase = byPhase(recorded);
  const apply: PhasePlan[] = [];
  for (let phase = 1; phase <= lastPhase; phase++) {
    const resources = desiredByPhase.get(phase) ?? [];
    const component = resources.find((r) => isPhaseComponent(r.urn, r.type));
    const dropped = deletionOrder((recordedByPhase.get(phase) ?? []).filter((r) => !wanted.has(r.urn)));
    apply.push({
      phase,
      action: "apply",
      component: component ? step(component) : null,
      children: [...resources.filter((r) => r !== component).map(step), ...dropped.map(deleteStep)],
    });
  }
  const remove = [...recordedByPhase.keys()]
    .filter((phase) => phase > lastPhase)
    .sort((a, b) => b - a)
    .map((phase) => removalPlan(phase, recordedByPhase.get(phase)!));

  const unphased = desired.filter((r) => phaseRefOfUrn(r.urn) === null).map(step);
  const unphasedDeletes = deletionOrder(recorded.filter((r) => phaseRefOfUrn(r.urn) === null && !wanted.has(r.urn))).map(deleteStep);
  return { unphased, apply, remove, unphasedDeletes };
}

/** Everything recorded, deleted phase by phase from the highest down, providers last. */
export function planTeardown(recorded: readonly RenderedResource[]): UpdatePlan {
  const recordedByPhase = byPhase(recorded);
  const remove = [...recordedByPhase.keys()].sort((a, b) => b - a).map((phase) => removalPlan(phase, recordedByPhase.get(phase)!));
  const unphasedDeletes = deletionOrder(recorded.filter((r) => phaseRefOfUrn(r.urn) === null)).map(deleteStep);
  return { unphased: [], apply: [], remove, unphasedDeletes };
}

/** The plan's steps in the order they run. */
export function stepsInOrder(plan: UpdatePlan): PlannedStep[] {
  const phaseSteps = (p: PhasePlan) => (p.action === "apply" ? [...(p.component ? [p.component] : []), ...p.children] : [...p.children, ...(p.component ? [p.component] : [])]);
  return [...plan.unphased, ...plan.apply.flatMap(phaseSteps), ...plan.remove.flatMap(phaseSteps), ...plan.unphasedDeletes];
}

export function toResourceChange(step: PlannedStep): ResourceChange {
  return {
    urn: step.resource.urn,
    type: step.resource.type,
    phase: phaseRefOfUrn(step.resource.urn),
    op: step.op,
    changedPaths: step.changedPaths,
    replaceReasons: step.replaceReasons,
    diffs: step.changedPaths.map((path) => propertyDiff(path, step.before?.inputs, step.op === "delete" ? undefined : step.resource.inputs)),
  };
}

function propertyDiff(path: string, before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): PropertyDiff {
  const old = before ? valueAt(before, path) : undefined;
  const now = after ? valueAt(after, path) : undefined;
  return { path, ...(old !== undefined ? { old } : {}), ...(now !== undefined ? { new: now } : {}) };
}
