/**
 * Holding an update to a reviewed plan before it starts. `pulumi up --plan`
 * checks each step against the plan as it executes it, so a plan that no
 * longer holds fails at its first step that differs, after the steps before
 * it have been applied (seen in a real run: a quota raised, then the update
 * refused). A preview first, compared with the plan step by step, refuses a
 * stale plan while nothing has changed yet.
 */
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";

/** What a step does to a resource, as far as a review is concerned. */
export type StepKind = "create" | "update" | "replace" | "delete";

/** Ops that change nothing (or only read). */
const NO_CHANGE = new Set(["same", "read", "refresh", "discard", "remove-pending-replace"]);

function kindOf(op: string): StepKind | null {
  if (NO_CHANGE.has(op)) return null;
  if (op === "create" || op === "import") return "create";
  if (op === "update") return "update";
  if (op === "delete" || op === "read-discard") return "delete";
  // replace, create-replacement, delete-replaced, import-replacement, read-replacement
  if (op.includes("replace")) return "replace";
  return "update";
}

/** The change each resource of a saved Pulumi plan (`--save-plan`) is to get; resources it leaves alone are absent. */
export function plannedSteps(planContent: string): Map<string, StepKind> {
  const parsed = JSON.parse(planContent) as { resourcePlans?: Record<string, { steps?: string[] }> };
  const steps = new Map<string, StepKind>();
  for (const [urn, resource] of Object.entries(parsed.resourcePlans ?? {})) {
    const kinds = (resource.steps ?? []).map(kindOf).filter((k): k is StepKind => k !== null);
    if (kinds.length === 0) continue;
    steps.set(urn, kinds.includes("replace") || (kinds.includes("create") && kinds.includes("delete")) ? "replace" : kinds[0]!);
  }
  return steps;
}

/** Collects the change a preview would make to each resource, from its engine events. */
export class PreviewSteps {
  readonly steps = new Map<string, StepKind>();
  readonly handle = (event: EngineEvent): void => {
    const metadata = event.resourcePreEvent?.metadata;
    if (!metadata) return;
    const kind = kindOf(metadata.op);
    if (kind === null) return;
    const known = this.steps.get(metadata.urn);
    this.steps.set(metadata.urn, known && known !== kind ? "replace" : kind);
  };
}

/** How the preview now differs from the plan, one line a resource; empty while the plan holds. */
export function planDifferences(planned: ReadonlyMap<string, StepKind>, now: ReadonlyMap<string, StepKind>): string[] {
  const differences: string[] = [];
  for (const urn of new Set([...planned.keys(), ...now.keys()])) {
    const was = planned.get(urn) ?? "no change";
    const is = now.get(urn) ?? "no change";
    if (was !== is) differences.push(`${urn}: reviewed ${was}, now ${is}`);
  }
  return differences;
}
