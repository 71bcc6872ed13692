import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { PHASE_NAMES, PHASES } from "../../model/phases.ts";
import { main } from "../../stacks/render-cli.ts";
import { TIERS, type Tier } from "../../model/tiers.ts";

interface Run { code: number; stdout: string; stderr: string }

/** Runs the CLI's main with stdout and stderr captured. */
async function run(argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const capture = (sink: string[]) => ((chunk: string | Uint8Array) => { sink.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8")); return true; }) as typeof process.stdout.write;
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(capture(out));
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(capture(err));
  try {
    const code = await main(argv);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

interface JsonResource {
  urn: string;
  type: string;
  name: string;
  phase: { number: number; name: string } | null;
  parent: string | null;
  dependsOn: string[];
  inputs: Record<string, unknown>;
  custom?: boolean;
  read?: boolean;
}
interface JsonRender { tenant: Record<string, unknown>; resources: JsonResource[]; lastPhase: number; outputs: Record<string, unknown> }

const runs = new Map<string, Promise<Run>>();
const once = (argv: string[]): Promise<Run> => {
  const key = argv.join(" ");
  if (!runs.has(key)) runs.set(key, run(argv));
  return runs.get(key)!;
};
const jsonRun = (tier: Tier) => once(["acme", "--tier", tier, "--region", "eastus", "--format", "json"]);
const treeRun = (tier: Tier) => once(["acme", "--tier", tier, "--region", "eastus", "--format", "tree"]);

/** `phase N NAME` headings of the tree format, in order. */
const phaseHeadings = (tree: string) => [...tree.matchAll(/^phase (\d+) ([A-Z_]+)\b/gm)].map((m) => ({ number: Number(m[1]), name: m[2] }));

/** The mock runtime's generated password for a RandomPassword of this Pulumi name. */
const mockPassword = (name: string) => `render-${createHash("sha256").update(name).digest("hex").slice(0, 24)}`;

describe.each(TIERS)("npm run render -- acme --tier %s --format json", (tier) => {
  it("exits 0 and prints one JSON document with the tenant and its resources", async () => {
    const { code, stdout, stderr } = await jsonRun(tier);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    const doc = JSON.parse(stdout) as JsonRender;
    expect(doc.tenant).toMatchObject({ slug: "acme", tier, region: "eastus" });
    expect(Array.isArray(doc.resources)).toBe(true);
    expect(doc.resources.length).toBeGreaterThan(0);
  });

  it("describes every resource by urn, type, name, phase, parent, dependsOn and inputs", async () => {
    const doc = JSON.parse((await jsonRun(tier)).stdout) as JsonRender;
    const urns = new Set(doc.resources.map((r) => r.urn));
    expect(urns.size).toBe(doc.resources.length);
    for (const r of doc.resources) {
      expect(r.urn).toMatch(/^urn:pulumi:acme::matih-tenants::/);
      expect(typeof r.type).toBe("string");
      expect(typeof r.name).toBe("string");
      expect(r.urn.endsWith(`::${r.name}`)).toBe(true);
      if (r.phase !== null) {
        expect(Object.keys(r.phase).sort()).toEqual(["name", "number"]);
        expect(r.phase.name).toBe(PHASE_NAMES[r.phase.number - 1]);
      }
      expect(r.parent === null || urns.has(r.parent), `parent of ${r.urn}`).toBe(true);
      expect(Array.isArray(r.dependsOn)).toBe(true);
      for (const d of r.dependsOn) expect(urns.has(d), `${r.urn} depends on ${d}`).toBe(true);
      expect(r.inputs).toBeTypeOf("object");
      expect(r.inputs).not.toBeNull();
    }
  });

  it("assigns resources to every phase and only providers to none", async () => {
    const doc = JSON.parse((await jsonRun(tier)).stdout) as JsonRender;
    expect([...new Set(doc.resources.flatMap((r) => (r.phase ? [r.phase.number] : [])))].sort((a, b) => a - b)).toEqual(PHASES.map((p) => p.number));
    for (const r of doc.resources.filter((x) => x.phase === null)) expect(r.type).toMatch(/^pulumi:providers:/);
  });

  it("prints no generated password anywhere, in clear or base64", async () => {
    const { stdout } = await jsonRun(tier);
    const doc = JSON.parse(stdout) as JsonRender;
    const generators = doc.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(generators.length).toBeGreaterThan(0);
    for (const g of generators) {
      const password = mockPassword(g.name);
      expect(stdout).not.toContain(password);
      expect(stdout).not.toContain(Buffer.from(password).toString("base64"));
    }
    expect(stdout).not.toMatch(/render-[0-9a-f]{24}/);
  });

  it("prints the contents of every Secret as [secret], value by value where the program marks values secret", async () => {
    const doc = JSON.parse((await jsonRun(tier)).stdout) as JsonRender;
    const secrets = doc.resources.filter((r) => r.type === "kubernetes:core/v1:Secret" && !r.read);
    expect(secrets.length).toBeGreaterThan(0);
    for (const s of secrets) {
      const contents = ["data", "stringData"].filter((k) => k in s.inputs);
      expect(contents.length, s.name).toBeGreaterThan(0);
      for (const k of contents) {
        const value = s.inputs[k];
        if (typeof value === "string") expect(value, `${s.name}.${k}`).toBe("[secret]");
        else for (const [key, v] of Object.entries(value as Record<string, unknown>)) expect(v, `${s.name}.${k}.${key}`).toBe("[secret]");
      }
    }
    const credentials = secrets.find((s) => (s.inputs.metadata as { name?: string }).name === "tenant-database-credentials")!;
    expect(Object.keys(credentials.inputs.stringData as object).sort()).toEqual(["DATABASE_URL", "POSTGRES_DB", "POSTGRES_HOST", "POSTGRES_PASSWORD", "POSTGRES_PORT", "POSTGRES_USER"]);
    expect(JSON.stringify(doc)).not.toContain("secretDigests");
  });

  it("lists every phase in order in --format tree", async () => {
    const { code, stdout } = await treeRun(tier);
    expect(code).toBe(0);
    expect(phaseHeadings(stdout)).toEqual(PHASES.map((p) => ({ number: p.number, name: p.name })));
    expect(stdout.split("\n")[0]).toMatch(new RegExp(`^tenant acme \\(${tier}, eastus\\)`));
  });
});

describe("npm run render -- --last-phase 3", () => {
  it("stops the JSON after phase 3", async () => {
    const { code, stdout } = await run(["acme", "--tier", "professional", "--region", "eastus", "--format", "json", "--last-phase", "3"]);
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as JsonRender;
    expect(doc.lastPhase).toBe(3);
    expect([...new Set(doc.resources.flatMap((r) => (r.phase ? [r.phase.number] : [])))].sort()).toEqual([1, 2, 3]);
  });

  it("stops the tree after phase 3", async () => {
    const { code, stdout } = await run(["acme", "--tier", "free", "--region", "eastus", "--last-phase", "3"]);
    expect(code).toBe(0);
    expect(phaseHeadings(stdout)).toEqual(PHASES.slice(0, 3).map((p) => ({ number: p.number, name: p.name })));
  });

  it.each(["0", "11", "two"])("refuses --last-phase %s with exit code 2", async (value) => {
    const { code, stdout, stderr } = await run(["acme", "--tier", "free", "--region", "eastus", "--last-phase", value]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("--last-phase");
  });
});

describe("npm run render with bad input", () => {
  it("returns 2 for an invalid spec, names every field at fault on stderr and prints nothing on stdout", async () => {
    const { code, stdout, stderr } = await run(["Kube-System", "--tier", "gold", "--region", "mars", "--format", "json"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    for (const field of ["slug", "tier", "region"]) expect(stderr).toMatch(new RegExp(`^\\s*${field}: \\S`, "m"));
    expect(stderr).toContain("mars");
  });

  it("returns 2 for an unknown option, naming it, and prints nothing on stdout", async () => {
    const { code, stdout, stderr } = await run(["acme", "--tier", "free", "--region", "eastus", "--colour"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("--colour");
  });

  it("returns 2 for an unknown format", async () => {
    const { code, stdout, stderr } = await run(["acme", "--tier", "free", "--region", "eastus", "--format", "yaml"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("--format");
  });

  describe("with a settings file", () => {
    const dir = mkdtempSync(join(tmpdir(), "render-cli-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("returns 2 and names the setting at fault for invalid settings", async () => {
      const file = join(dir, "bad.json");
      writeFileSync(file, JSON.stringify({ dns: { nsTtl: -1 }, nonsense: true }));
      const { code, stdout, stderr } = await run(["acme", "--tier", "free", "--region", "eastus", "--settings", file]);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/^\s*dns\.nsTtl: /m);
      expect(stderr).toMatch(/^\s*nonsense: /m);
    });

    it("renders with the settings of the file", async () => {
      const file = join(dir, "good.json");
      writeFileSync(file, JSON.stringify({ baseDomain: "example.org" }));
      const { code, stdout } = await run(["acme", "--tier", "free", "--region", "eastus", "--format", "json", "--last-phase", "7", "--settings", file]);
      expect(code).toBe(0);
      const doc = JSON.parse(stdout) as JsonRender;
      expect(doc.resources.find((r) => r.type === "azure-native:dns:Zone")?.inputs.zoneName).toBe("acme.example.org");
    });
  });
});
