/**
 * Saved update plans (automation/core/plans.ts) on real files: a plan's id and
 * path, its fingerprint, and what checkPlan lets through when a process that
 * did not preview applies it: the tenant and engine it was made for, contents
 * that match the preview's fingerprint (written to this process's own data
 * directory, atomically), or, for a plan saved before contents were kept,
 * the file where it was made.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { DataDirLayout } from "../../../automation/core/data-dir.ts";
import { InvalidRequestError, PlanMismatchError } from "../../../automation/core/errors.ts";
import { checkPlan, newPlan, planFingerprint, sealPlan } from "../../../automation/core/plans.ts";
import type { SavedPlan } from "../../../automation/core/types.ts";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function layoutIn(name: string): Promise<DataDirLayout> {
  const root = await mkdtemp(path.join(tmpdir(), `matih-plans-${name}-`));
  roots.push(root);
  return new DataDirLayout(root);
}

const CONTENT = JSON.stringify({ manifest: { time: "2026-02-12T10:00:00Z" }, resourcePlans: { "urn:x": { steps: ["update"] } } });
/** SHA-256 of "abc" and of "", computed outside this module (sha256sum). */
const SHA_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

describe("a plan's id, path and fingerprint", () => {
  it("names a new plan by its time and a random suffix, under the tenant's plans directory, which exists afterwards (mode 700)", async () => {
    const layout = await layoutIn("new");
    const now = new Date("2026-02-12T10:00:00.123Z");
    const plan = await newPlan(layout, "acme", "render", 7, now);
    expect(plan.id).toMatch(/^20260212100000123-[0-9a-f]{8}$/);
    expect(plan).toEqual({ id: plan.id, slug: "acme", engine: "render", lastPhase: 7, file: path.join(layout.root, "plans", "acme", `${plan.id}.json`), createdAt: "2026-02-12T10:00:00.123Z" });
    const dir = await stat(path.dirname(plan.file));
    expect(dir.isDirectory()).toBe(true);
    expect(dir.mode & 0o777).toBe(0o700);
    await expect(stat(plan.file)).rejects.toThrow(/ENOENT/);
    const other = await newPlan(layout, "acme", "pulumi", 10, now);
    expect(other.id).not.toBe(plan.id);
    expect(other.id.slice(0, 17)).toBe("20260212100000123");
  });

  it("fingerprints contents with SHA-256 in hex", () => {
    expect(planFingerprint("abc")).toBe(SHA_ABC);
    expect(planFingerprint("")).toBe(SHA_EMPTY);
    // UTF-8, not Latin-1: "é" is two bytes.
    expect(planFingerprint("é")).toBe("4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c");
  });

  it("seals a plan with its file's contents and their fingerprint", async () => {
    const layout = await layoutIn("seal");
    const plan = await newPlan(layout, "acme", "render", 10);
    await writeFile(plan.file, "abc");
    expect(await sealPlan(plan)).toEqual({ ...plan, sha256: SHA_ABC, content: "abc" });
  });
});

describe("checking a plan handed back for an update", () => {
  let previewer: DataDirLayout;
  let applier: DataDirLayout;
  let plan: SavedPlan;
  beforeEach(async () => {
    previewer = await layoutIn("previewer");
    applier = await layoutIn("applier");
    const made = await newPlan(previewer, "acme", "render", 10);
    await writeFile(made.file, CONTENT);
    plan = await sealPlan(made);
  });
  const expectation = (layout: DataDirLayout, extra: { checkContent?: (content: string, plan: SavedPlan) => void } = {}) => ({ slug: "acme", engine: "render" as const, layout, ...extra });
  const planDir = (layout: DataDirLayout) => path.join(layout.root, "plans", "acme");

  it("refuses a plan made for another tenant or by another engine, before touching any file", async () => {
    const otherTenant = await rejection(checkPlan(plan, { ...expectation(applier), slug: "globex" }));
    expect(otherTenant).toBeInstanceOf(InvalidRequestError);
    expect(otherTenant.message).toBe(`the plan ${plan.id} was made for tenant "acme", not "globex"`);
    const otherEngine = await rejection(checkPlan(plan, { ...expectation(applier), engine: "pulumi" }));
    expect(otherEngine).toBeInstanceOf(InvalidRequestError);
    expect(otherEngine.message).toBe(`the plan ${plan.id} was made by the render engine; this is the pulumi engine`);
    await expect(stat(planDir(applier))).rejects.toThrow(/ENOENT/);
  });

  it("refuses an id that is not a plan id (a path), as an invalid request rather than a file to read", async () => {
    const error = await rejection(checkPlan({ ...plan, id: "../../etc/passwd" }, expectation(applier)));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.message).toBe('not a plan id: "../../etc/passwd"');
  });

  it("writes contents that match the fingerprint to this data directory's own path (mode 600, no temporary file left), after the engine's own check", async () => {
    const seen: [string, string][] = [];
    const file = await checkPlan(plan, expectation(applier, { checkContent: (content, p) => void seen.push([content, p.id]) }));
    expect(file).toBe(path.join(applier.root, "plans", "acme", `${plan.id}.json`));
    expect(await readFile(file, "utf8")).toBe(CONTENT);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(planDir(applier))).mode & 0o777).toBe(0o700);
    expect(await readdir(planDir(applier))).toEqual([`${plan.id}.json`]);
    expect(seen).toEqual([[CONTENT, plan.id]]);
  });

  it("leaves a file with the same bytes as it is, and replaces one that differs", async () => {
    const target = applier.planFile("acme", plan.id);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, CONTENT, { mode: 0o644 });
    await checkPlan(plan, expectation(applier));
    // Not rewritten: a rewrite would have made it 600.
    expect((await stat(target)).mode & 0o777).toBe(0o644);
    await writeFile(target, "something else");
    await checkPlan(plan, expectation(applier));
    expect(await readFile(target, "utf8")).toBe(CONTENT);
    expect(await readdir(path.dirname(target))).toEqual([`${plan.id}.json`]);
  });

  it("refuses contents that do not match the fingerprint, or carry none, and writes nothing", async () => {
    for (const forged of [{ ...plan, content: `${CONTENT} ` }, { ...plan, sha256: undefined }, { ...plan, sha256: "" }]) {
      const error = await rejection(checkPlan(forged as SavedPlan, expectation(applier)));
      expect(error).toBeInstanceOf(PlanMismatchError);
      expect(error.message).toBe(`the plan ${plan.id} for tenant "acme" does not match the fingerprint its preview took (changed or mixed up since); preview again`);
    }
    // Empty contents are contents too: checked against the fingerprint like any other.
    const empty = await rejection(checkPlan({ ...plan, content: "" }, expectation(applier)));
    expect(empty).toBeInstanceOf(PlanMismatchError);
    await expect(stat(planDir(applier))).rejects.toThrow(/ENOENT/);
  });

  it("lets the engine's own check refuse the contents before they are written", async () => {
    const error = await rejection(checkPlan(plan, expectation(applier, { checkContent: () => { throw new PlanMismatchError("the plan is for another stack"); } })));
    expect(error.message).toBe("the plan is for another stack");
    await expect(stat(applier.planFile("acme", plan.id))).rejects.toThrow(/ENOENT/);
  });

  it("removes its temporary file and fails when the plan cannot be put in place", async () => {
    // A directory where the plan file should be: the rename fails.
    const target = applier.planFile("acme", plan.id);
    await mkdir(path.join(target, "occupied"), { recursive: true });
    await expect(checkPlan(plan, expectation(applier))).rejects.toThrow();
    expect(await readdir(path.dirname(target))).toEqual([`${plan.id}.json`]);
  });

  it("applies a plan saved before contents were kept from its file where it was made, checking a fingerprint when there is one", async () => {
    const { content: _content, ...legacy } = plan;
    const seen: string[] = [];
    expect(await checkPlan(legacy, expectation(previewer, { checkContent: (content) => void seen.push(content) }))).toBe(plan.file);
    expect(await checkPlan({ ...legacy, content: null } as unknown as SavedPlan, expectation(previewer))).toBe(plan.file);
    expect(seen).toEqual([CONTENT]);
    const { sha256: _sha, ...older } = legacy;
    expect(await checkPlan(older, expectation(previewer))).toBe(plan.file);

    await writeFile(plan.file, `${CONTENT}\n`);
    const changed = await rejection(checkPlan(legacy, expectation(previewer)));
    expect(changed).toBeInstanceOf(PlanMismatchError);
    expect(changed.message).toBe(`the plan file of ${plan.id} for tenant "acme" does not match the fingerprint its preview took; preview again`);
    // Without a fingerprint there is nothing to compare: the file is taken as it is.
    expect(await checkPlan(older, expectation(previewer))).toBe(plan.file);

    const elsewhere = await rejection(checkPlan(legacy, expectation(applier)));
    expect(elsewhere).toBeInstanceOf(PlanMismatchError);
    expect(elsewhere.message).toBe(`the plan ${plan.id} for tenant "acme" no longer exists (tenant torn down, or data directory reset); preview again`);
  });
});
