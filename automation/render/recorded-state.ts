/**
 * The render engine's picture of what exists for one tenant while an update
 * runs: starts as the record, and each applied step creates, updates or
 * deletes one resource in it. Saved after every phase.
 */
import type { RenderedResource } from "../../stacks/mock-render.ts";
import type { PlannedStep } from "./steps.ts";

export class RecordedState {
  // A Map keeps insertion order: updated resources keep their place, new ones go last, as registration order would.
  private readonly resources: Map<string, RenderedResource>;

  constructor(initial: readonly RenderedResource[]) {
    this.resources = new Map(initial.map((r) => [r.urn, r]));
  }

  apply(step: PlannedStep): void {
    if (step.op === "delete") this.resources.delete(step.resource.urn);
    else this.resources.set(step.resource.urn, step.resource);
  }

  list(): RenderedResource[] {
    return [...this.resources.values()];
  }
}
