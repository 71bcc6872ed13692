/**
 * package.json's production dependencies are what `npm ci --omit=dev` installs
 * on a server: each must be used by the service's own code, and nothing only
 * tests use (an SMTP server, say) may be among them.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** The service's source folders (and the dashboard it serves); tests, benchmarks and scripts are development. */
const SOURCE_DIRS = ["model", "components", "stacks", "automation", "server", "admin-ui", "cli"];

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => path.join(e.parentPath, e.name));
}

function importedPackages(): Set<string> {
  const found = new Set<string>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"'./][^"']*)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith("node:")) continue;
      found.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  return found;
}

describe("production dependencies", () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const imported = importedPackages();

  it("are each imported by the service's own code, so nothing only tests need ships to production", () => {
    const unused = Object.keys(pkg.dependencies).filter((name) => !imported.has(name));
    expect(unused).toEqual([]);
  });

  it("keep the SMTP server that only tests start among the development dependencies", () => {
    expect(pkg.dependencies["smtp-server"]).toBeUndefined();
    expect(pkg.devDependencies["smtp-server"]).toBeDefined();
  });

  it("include every package the service's code imports", () => {
    const builtins = new Set(["fs", "path", "url", "crypto", "os", "child_process", "events", "net", "http", "stream"]);
    const missing = [...imported].filter((name) => !builtins.has(name) && !pkg.dependencies[name]);
    expect(missing).toEqual([]);
  });
});
