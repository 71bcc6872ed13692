/**
 * Saved update plans: a preview can save one, and a provision can be held to
 * it so that what was reviewed is what runs. The Pulumi engine lets the CLI
 * write the plan file (`--save-plan`) and enforce it (`--plan`); the render
 * engine writes fingerprints of what it rendered and refuses to run when a
 * fresh render differs.
 */
import { randomUUID } from "node:crypto";
import { access, mkdir } from "node:fs/promises";
import path from "node:path";
import type { DataDirLayout } from "./data-dir.ts";
import { InvalidRequestError, PlanMismatchError } from "./errors.ts";
import type { EngineKind, SavedPlan } from "./types.ts";

/** A new plan reference with its file path; the directory exists afterwards, the file does not yet. */
export async function newPlan(layout: DataDirLayout, slug: string, engine: EngineKind, lastPhase: number, now = new Date()): Promise<SavedPlan> {
  const id = `${now.toISOString().replace(/[-:.TZ]/g, "")}-${randomUUID().slice(0, 8)}`;
  const file = layout.planFile(slug, id);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return { id, slug, engine, lastPhase, file, createdAt: now.toISOString() };
}

/**
 * Checks that a plan handed back by the caller is one this engine saved for
 * this tenant, and that its file is still there. The file path is recomputed
 * from the id rather than trusted, so a request cannot point the engine at an
 * arbitrary file.
 */
export async function checkPlan(plan: SavedPlan, expected: { slug: string; engine: EngineKind; layout: DataDirLayout }): Promise<string> {
  if (plan.slug !== expected.slug) throw new InvalidRequestError(`the plan ${plan.id} was made for tenant "${plan.slug}", not "${expected.slug}"`);
  if (plan.engine !== expected.engine) throw new InvalidRequestError(`the plan ${plan.id} was made by the ${plan.engine} engine; this is the ${expected.engine} engine`);
  let file: string;
  try {
    file = expected.layout.planFile(expected.slug, plan.id);
  } catch (error) {
    throw new InvalidRequestError(error instanceof Error ? error.message : String(error));
  }
  try {
    await access(file);
  } catch {
    throw new PlanMismatchError(`the plan ${plan.id} for tenant "${plan.slug}" no longer exists (tenant torn down, or data directory reset); preview again`);
  }
  return file;
}
