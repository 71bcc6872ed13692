/**
 * Stack locks when processes are killed, with real processes: a forked worker
 * per operation, and in it a fake pulumi CLI (fixtures/fake-pulumi-cli.ts)
 * that takes and holds the file backend's lock exactly where and how the real
 * CLI does, and keeps going on SIGINT like a CLI waiting on Helm.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { OperationTimeoutError } from "../../../automation/core/errors.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { processAlive } from "../../../automation/pulumi/file-backend.ts";
import type { ProgressEvent } from "../../../automation/core/types.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const WORKER = fileURLToPath(new URL("../fixtures/fake-cli-worker.ts", import.meta.url));
const SERVICE = fileURLToPath(new URL("../fixtures/service-that-dies.ts", import.meta.url));
const PENDING_CREATE_URN = "urn:pulumi:acme::matih-tenants::matih:ingress:IngressController$kubernetes:helm.sh/v3:Release::ingress-controller-release";
const silent = { info() {}, warn() {}, error() {} };
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });

let dataDir: string;
const started: ChildProcess[] = [];
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  for (const child of started.splice(0)) child.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

const lockDir = () => path.join(dataDir, "state", ".pulumi", "locks", "organization", "matih-tenants", "acme");

async function lockFiles(): Promise<string[]> {
  return (await readdir(lockDir()).catch(() => [] as string[])).filter((n) => n.endsWith(".json"));
}

async function lockOwnerPid(): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const [file] = await lockFiles();
    if (file) return JSON.parse(await readFile(path.join(lockDir(), file), "utf8")).pid as number;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the fake CLI never took the lock");
}

async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never happened within ${ms}ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function environment(modes: string): NodeJS.ProcessEnv {
  return { ...process.env, PULUMI_CONFIG_PASSPHRASE: "not-a-real-passphrase", MATIH_PG_ADMIN_PASSWORD: "not-a-real-password", FAKE_CLI_UP_MODES: modes, FAKE_TAKEOVER_MARGIN_MS: "500" };
}

async function startEngine(env: NodeJS.ProcessEnv, cancelGraceMs: number) {
  const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0, cancelGraceMs });
  return PulumiEngine.start({ config, runner: new ForkedJobRunner({ workerPath: WORKER, env }), gate: new OperationGate({ maxConcurrent: 2 }), env, logger: silent, detectCli: cliFound });
}

/** The process group a process belongs to (field 5 of /proc/<pid>/stat): the worker that leads it. */
async function processGroupOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

describe("a run the engine killed itself", () => {
  for (const how of ["when it timed out", "when its worker crashed"] as const) {
    it(`has its stack lock released at once and its pending creates named ${how}, so the retry of the same run is not locked out`, async () => {
      const engine = await startEngine(environment("hang,succeed"), 300);
      const events: ProgressEvent[] = [];
      const controller = new AbortController();
      const running = engine.provision({ spec: tenantSpec(), settings: realRunSettings(), signal: controller.signal, onEvent: (e) => events.push(e) });
      const cliPid = await lockOwnerPid();
      const workerPid = await processGroupOf(cliPid);
      expect(workerPid).not.toBe(process.pid);
      // The operation's time limit firing (the worker starts too slowly on a busy host for a short real limit to be fair).
      if (how === "when it timed out") controller.abort(new OperationTimeoutError(2_000));
      else process.kill(workerPid, "SIGKILL");
      const result = await running;

      // The CLI ignored SIGINT (a Helm wait) or lost its worker; the runner killed the group, CLI included.
      expect(processAlive(cliPid)).toBe(false);
      expect(result.status).toBe("failed");
      expect(result.error?.code).toBe(how === "when it timed out" ? "operation_timeout" : "worker_crashed");
      expect(await lockFiles()).toEqual([]);
      expect(result.error?.message).toContain(`lock was released (pid ${cliPid})`);
      expect(result.error?.message).toContain(PENDING_CREATE_URN);
      const warnings = events.filter((e) => e.type === "diagnostic" && e.severity === "warning").map((e) => (e.type === "diagnostic" ? e.message : ""));
      expect(warnings.some((m) => m.includes(PENDING_CREATE_URN) && /being created when the run was killed/.test(m))).toBe(true);

      // The retry: the same run, so its owner is not reported dead, and no lock wait is allowed.
      const retry = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: false, lockWaitMs: 0 });
      expect(retry.error).toBeNull();
      expect(retry.status).toBe("succeeded");
      expect(await lockFiles()).toEqual([]);
    }, 90_000);
  }

  it("leaves a lock alone that a live process holds", async () => {
    // A lock from this host whose owner is alive (this test process) is not the killed run's.
    const { mkdir, writeFile } = await import("node:fs/promises");
    const os = await import("node:os");
    await mkdir(lockDir(), { recursive: true });
    await writeFile(path.join(lockDir(), "live.json"), JSON.stringify({ pid: process.pid, username: "svc", hostname: os.hostname(), timestamp: "2026-02-12T10:00:00Z" }));
    const { releaseDeadOwnersLocks } = await import("../../../automation/pulumi/file-backend.ts");
    const release = await releaseDeadOwnersLocks(path.join(dataDir, "state"), "matih-tenants", "acme", { settleMs: 100 });
    expect(release.removed).toEqual([]);
    expect(release.kept.map((l) => l.pid)).toEqual([process.pid]);
    expect(await lockFiles()).toEqual(["live.json"]);
  });
});

describe("a worker whose service process died", () => {
  it("kills its own process group, CLI included, once the grace is over; a takeover never breaks the lock while that CLI lives", async () => {
    const graceMs = 1_500;
    const env = environment("hang,succeed");
    const job: PulumiJob = {
      kind: "pulumi",
      operation: "provision",
      config: { dataDir, backendUrl: `file://${path.join(dataDir, "state")}`, secretsProvider: "passphrase", lockWaitMs: 0, cancelGraceMs: graceMs },
      request: { spec: tenantSpec(), settings: realRunSettings(), lastPhase: 10 },
    };
    const service = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", SERVICE], {
      env: { ...env, FAKE_JOB: JSON.stringify(job), FAKE_GRACE_MS: String(graceMs) },
      stdio: "ignore",
    });
    started.push(service);
    const cliPid = await lockOwnerPid();
    started.push({ kill: () => { try { process.kill(cliPid, "SIGKILL"); } catch { /* gone */ } } } as unknown as ChildProcess);

    service.kill("SIGKILL");
    const diedAt = Date.now();

    // Watch for the one thing that must never happen: the lock gone while the CLI that holds it still runs.
    let brokenWhileAlive = false;
    let cliDiedAfterMs: number | null = null;
    const watch = setInterval(() => {
      const alive = processAlive(cliPid);
      if (!alive && cliDiedAfterMs === null) cliDiedAfterMs = Date.now() - diedAt;
      void lockFiles().then((files) => {
        if (files.length === 0 && processAlive(cliPid)) brokenWhileAlive = true;
      });
    }, 20);

    try {
      // Another process takes the job over at once (the worst case) and reports the owner dead.
      const engine = await startEngine(env, graceMs);
      const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
      expect(takeover.error).toBeNull();
      expect(takeover.status).toBe("succeeded");
      await eventually(() => cliDiedAfterMs !== null, 5_000, "the orphaned CLI is killed");
    } finally {
      clearInterval(watch);
    }
    expect(brokenWhileAlive).toBe(false);
    expect(processAlive(cliPid)).toBe(false);
    // It had its grace (SIGINT, in-flight steps) and no more than the grace plus a margin.
    expect(cliDiedAfterMs!).toBeGreaterThanOrEqual(graceMs - 200);
    expect(cliDiedAfterMs!).toBeLessThan(graceMs + 5_000);
    expect(await lockFiles()).toEqual([]);
  }, 90_000);
});
