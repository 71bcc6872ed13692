/**
 * Render-engine update plans: fingerprints of the reviewed render and of the
 * record it was compared with. Holding a provision to the plan means refusing
 * to run when either has changed since, which is what Pulumi's `--plan` does
 * for real runs (it fails on the first step that differs from the plan).
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import type { RenderedResource } from "../../stacks/mock-render.ts";
import { PlanMismatchError } from "../core/errors.ts";
import type { SavedPlan } from "../core/types.ts";

export interface RenderPlanFile {
  readonly version: 1;
  readonly plan: SavedPlan;
  /** Fingerprint of the rendered desired state that was reviewed. */
  readonly desired: string;
  /** Fingerprint of the recorded state it was compared with. */
  readonly baseline: string;
}

/** JSON with object keys sorted, so equal values always serialise the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * A digest of a set of resources. Order does not count: a record lists
 * resources in the order they were applied, a render in registration order,
 * and the same resources must fingerprint the same either way.
 */
export function fingerprint(resources: readonly RenderedResource[]): string {
  const byUrn = [...resources].sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
  return createHash("sha256").update(canonical(byUrn)).digest("hex");
}

export async function writeRenderPlan(plan: SavedPlan, desired: readonly RenderedResource[], recorded: readonly RenderedResource[]): Promise<void> {
  const file: RenderPlanFile = { version: 1, plan, desired: fingerprint(desired), baseline: fingerprint(recorded) };
  await writeFile(plan.file, `${JSON.stringify(file, null, 2)}\n`, { flag: "wx", mode: 0o600 });
}

export async function readRenderPlan(path: string): Promise<RenderPlanFile> {
  return JSON.parse(await readFile(path, "utf8")) as RenderPlanFile;
}

/** `resume` checks only the desired state: the plan's own update already changed the record in part. */
export function verifyRenderPlan(plan: RenderPlanFile, desired: readonly RenderedResource[], recorded: readonly RenderedResource[], mode: "exact" | "resume" = "exact"): void {
  if (mode === "exact" && fingerprint(recorded) !== plan.baseline) {
    throw new PlanMismatchError(`tenant "${plan.plan.slug}" changed since plan ${plan.plan.id} was made (another update ran); preview again and review the new plan`);
  }
  if (fingerprint(desired) !== plan.desired) {
    throw new PlanMismatchError(`the program now renders tenant "${plan.plan.slug}" differently from plan ${plan.plan.id} (spec, settings or program changed); preview again and review the new plan`);
  }
}
