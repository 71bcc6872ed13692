/**
 * Saved update plans: a preview can save one, and a provision can be held to
 * it so that what was reviewed is what runs. The Pulumi engine lets the CLI
 * write the plan file (`--save-plan`) and enforce it (`--plan`); the render
 * engine writes fingerprints of what it rendered and refuses to run when a
 * fresh render differs.
 *
 * The file is written under the data directory of the process that
 * previewed, but the change may be approved and applied by another process,
 * on another host. So a saved plan carries its file's contents and their
 * SHA-256 (`sealPlan`), the service keeps both with the change, and the
 * process that applies it writes the contents to its own plan path first
 * (`checkPlan`), after checking them against the fingerprint.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
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

/** The fingerprint of a plan file's contents: SHA-256, hex. */
export function planFingerprint(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}

/** The plan with its file's contents and their fingerprint, once the preview has written the file. */
export async function sealPlan(plan: SavedPlan): Promise<SavedPlan> {
  const content = await readFile(plan.file, "utf8");
  return { ...plan, sha256: planFingerprint(content), content };
}

export interface PlanExpectation {
  readonly slug: string;
  readonly engine: EngineKind;
  readonly layout: DataDirLayout;
  /** The engine's own check of the contents (whose stack the plan is for); throws PlanMismatchError. */
  readonly checkContent?: (content: string, plan: SavedPlan) => void;
}

/**
 * Checks that a plan handed back by the caller is one this engine saved for
 * this tenant, and returns the path of its file in this data directory. The
 * path is recomputed from the id rather than trusted, so a request cannot
 * point the engine at an arbitrary file. A plan that carries its contents is
 * written there (whichever process made it) once the contents match the
 * fingerprint the preview took; one saved before contents were kept must
 * still have its file here.
 */
export async function checkPlan(plan: SavedPlan, expected: PlanExpectation): Promise<string> {
  if (plan.slug !== expected.slug) throw new InvalidRequestError(`the plan ${plan.id} was made for tenant "${plan.slug}", not "${expected.slug}"`);
  if (plan.engine !== expected.engine) throw new InvalidRequestError(`the plan ${plan.id} was made by the ${plan.engine} engine; this is the ${expected.engine} engine`);
  let file: string;
  try {
    file = expected.layout.planFile(expected.slug, plan.id);
  } catch (error) {
    throw new InvalidRequestError(error instanceof Error ? error.message : String(error));
  }
  if (plan.content !== undefined && plan.content !== null) {
    if (!plan.sha256 || planFingerprint(plan.content) !== plan.sha256) {
      throw new PlanMismatchError(`the plan ${plan.id} for tenant "${plan.slug}" does not match the fingerprint its preview took (changed or mixed up since); preview again`);
    }
    expected.checkContent?.(plan.content, plan);
    await materialise(file, plan.content);
    return file;
  }
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch {
    throw new PlanMismatchError(`the plan ${plan.id} for tenant "${plan.slug}" no longer exists (tenant torn down, or data directory reset); preview again`);
  }
  if (plan.sha256 && planFingerprint(content) !== plan.sha256) {
    throw new PlanMismatchError(`the plan file of ${plan.id} for tenant "${plan.slug}" does not match the fingerprint its preview took; preview again`);
  }
  expected.checkContent?.(content, plan);
  return file;
}

/** Writes the plan to its path in this data directory, unless the same bytes are there: to a temporary name, then renamed. */
async function materialise(file: string, content: string): Promise<void> {
  try {
    if ((await readFile(file, "utf8")) === content) return;
  } catch {
    // not here yet
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(temporary, content, { mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
