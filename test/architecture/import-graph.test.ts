/**
 * The floor plan, checked: every relative import among the source folders
 * points down the layers (model <- components <- stacks <- automation <- api <- server),
 * and no two folders import each other, directly or around a loop.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** Bottom first. */
export const LAYERS = ["model", "components", "stacks", "automation", "api", "server"] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(rel);
    return entry.name.endsWith(".ts") ? [rel] : [];
  });
}

/** Every relative module specifier in a file: static imports, re-exports, dynamic imports and `import type`. */
function importsOf(file: string): string[] {
  const source = readFileSync(path.join(ROOT, file), "utf8");
  const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1]!);
  return specifiers.map((s) => path.normalize(path.join(path.dirname(file), s)));
}

const layerOf = (file: string) => LAYERS.indexOf(file.split(path.sep)[0] as (typeof LAYERS)[number]);

interface Edge {
  readonly from: string;
  readonly to: string;
}

const files = LAYERS.flatMap((layer) => sourceFiles(layer));
const edges: Edge[] = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));

/** Imports from a lower layer into a higher one. */
function upwardImports(edges: readonly Edge[]): string[] {
  return edges.filter(({ from, to }) => layerOf(to) > layerOf(from)).map(({ from, to }) => `${from} -> ${to}`);
}

/** Folder cycles: strongly connected components of the folder graph with more than one folder. */
function folderCycles(edges: readonly Edge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = path.dirname(from);
    const b = path.dirname(to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  // Tarjan's algorithm.
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return cycles;
}

describe("the import graph of model, components, stacks, automation, api and server", () => {
  it("covers every source file of the six layers", () => {
    expect(files.length).toBeGreaterThan(90);
    for (const layer of LAYERS) expect(files.some((f) => f.startsWith(`${layer}/`)), layer).toBe(true);
  });

  it("has no import that points up a layer", () => {
    expect(upwardImports(edges)).toEqual([]);
  });

  it("has no import that leaves the six layers (tests, benches and scripts sit beside them, never below)", () => {
    const outside = edges.filter(({ to }) => layerOf(to) < 0).map(({ from, to }) => `${from} -> ${to}`);
    expect(outside).toEqual([]);
  });

  it("lets the API's clients (the dashboard, the CLI) take only types from the API's schemas, and nothing of the server", () => {
    const clientFiles = ["admin-ui", "cli"].flatMap((dir) => sourceFiles(dir));
    expect(clientFiles.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const file of clientFiles) {
      const source = readFileSync(path.join(ROOT, file), "utf8");
      for (const m of source.matchAll(/^\s*import\s+(type\s+)?[^"';]*?from\s*["'](\.{1,2}\/[^"']+)["']/gm)) {
        const to = path.normalize(path.join(path.dirname(file), m[2]!));
        const layer = to.split(path.sep)[0]!;
        if (layer === "server" || layer === "automation" || layer === "stacks" || layer === "components") problems.push(`${file} -> ${to}`);
        if (layer === "api" && !m[1]) problems.push(`${file} -> ${to} (not type-only)`);
      }
    }
    expect(problems).toEqual([]);
    // The dashboard's response types come from the schemas, not restated by hand.
    expect(readFileSync(path.join(ROOT, "admin-ui/types.ts"), "utf8")).toMatch(/Static<typeof api\.ProvisioningStatus>/);
  });

  it("has no cycle between folders", () => {
    expect(folderCycles(edges)).toEqual([]);
  });

  it("keeps the model free of Pulumi, so the service can use it without loading the SDK", () => {
    const pulumiInModel = files.filter((f) => f.startsWith("model/") && /from\s+["']@pulumi\//.test(readFileSync(path.join(ROOT, f), "utf8")));
    expect(pulumiInModel).toEqual([]);
  });

  it("sees the imports of a file, type-only and dynamic ones included", () => {
    expect(importsOf("stacks/tenant-program.ts")).toContain(path.normalize("model/phases.ts"));
    expect(importsOf("automation/worker-jobs.ts")).toEqual(expect.arrayContaining([path.normalize("automation/render/worker-job.ts"), path.normalize("automation/pulumi/operations.ts")]));
  });

  it("would report an upward import and a folder cycle if there were one", () => {
    expect(upwardImports([...edges, { from: "model/spec.ts", to: "server/app.ts" }])).toEqual(["model/spec.ts -> server/app.ts"]);
    const loop = [{ from: "server/db/tenants.ts", to: "server/domain/tenant-status.ts" }, { from: "server/domain/tenant-status.ts", to: "server/db/tenants.ts" }];
    expect(folderCycles([...edges, ...loop])).toEqual([["server/db", "server/domain"]]);
    const around = [{ from: "server/db/a.ts", to: "server/runs/b.ts" }];
    expect(folderCycles([...edges, ...around]).flat()).toEqual(expect.arrayContaining(["server/db", "server/domain", "server/runs"]));
  });
});
