/**
 * A takeover (`ownerDead`: the run's previous attempt stopped heart-beating)
 * must never break a lock that a live run holds. A heartbeat lapses for live
 * runs too (a database failover stops every heartbeat for half a minute while
 * their `pulumi up` goes on), and `pulumi cancel` on a file or bucket backend
 * deletes every lock of the stack, whoever holds it. So a takeover removes
 * only locks whose owner it sees dead (this host, process gone), waits for any
 * other, and then reports `stack_locked`.
 *
 * The file-backend cases run real processes: a forked worker per operation
 * with the fake pulumi CLI (fixtures/fake-pulumi-cli.ts), which takes the lock
 * where and as the real CLI does and whose `cancel` deletes every lock.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadEngineConfig } from "../../../automation/core/config.ts";
import { OperationGate } from "../../../automation/core/operation-gate.ts";
import type { ProgressEvent } from "../../../automation/core/types.ts";
import { ForkedJobRunner } from "../../../automation/isolation/forked-runner.ts";
import type { PulumiJob } from "../../../automation/isolation/protocol.ts";
import { PulumiEngine } from "../../../automation/pulumi/engine.ts";
import { processAlive } from "../../../automation/pulumi/file-backend.ts";
import { withLockHandling } from "../../../automation/pulumi/locks.ts";
import { runPulumiWorkerJob } from "../../../automation/pulumi/operations.ts";
import { successfulUp } from "../fixtures/engine-events.ts";
import { FAKE_CLI_VARIABLES } from "../fixtures/fake-cli-variables.ts";
import { FakeWorkspaceFactory, lockConflict, replay } from "../fixtures/fake-workspace.ts";
import { InProcessRunner } from "../helpers/in-process-runner.ts";
import { realRunSettings, tempDataDir, tenantSpec } from "../helpers/tenants.ts";

const WORKER = fileURLToPath(new URL("../fixtures/fake-cli-worker.ts", import.meta.url));
const CLI = fileURLToPath(new URL("../fixtures/fake-pulumi-cli.ts", import.meta.url));
const silent = { info() {}, warn() {}, error() {} };
const cliFound = async () => ({ ok: true as const, path: "/usr/local/bin/pulumi", version: "v3.190.0" });
const SECRETS = { PULUMI_CONFIG_PASSPHRASE: "not-a-real-passphrase", MATIH_PG_ADMIN_PASSWORD: "not-a-real-password" };

let dataDir: string;
const started: ChildProcess[] = [];
beforeEach(async () => {
  dataDir = await tempDataDir();
});
afterEach(async () => {
  for (const child of started.splice(0)) child.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

const stateDir = () => path.join(dataDir, "state");
const lockDir = () => path.join(stateDir(), ".pulumi", "locks", "organization", "matih-tenants", "acme");

async function lockFiles(): Promise<string[]> {
  return (await readdir(lockDir()).catch(() => [] as string[])).filter((n) => n.endsWith(".json")).sort();
}

async function writeLock(name: string, owner: { pid: number; hostname: string }): Promise<void> {
  await mkdir(lockDir(), { recursive: true });
  await writeFile(path.join(lockDir(), name), JSON.stringify({ ...owner, username: "svc", timestamp: "2026-02-12T10:00:00Z" }));
}

/** A pid that was this host's and is gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("exit", resolve));
  expect(processAlive(child.pid!)).toBe(false);
  return child.pid!;
}

/**
 * The previous attempt's `pulumi up`, still running: its service lost the
 * job's claim (a database failover) but is alive, and so is its CLI, which
 * holds the stack's lock as the real CLI does.
 */
async function liveRunHoldingTheLock(): Promise<number> {
  const cli = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", CLI, "up", stateDir(), "matih-tenants", "acme", "hang"], { stdio: ["ignore", "pipe", "ignore"] });
  started.push(cli);
  return new Promise<number>((resolve, reject) => {
    let out = "";
    cli.stdout!.on("data", (d) => {
      out += String(d);
      const match = /locked (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    cli.on("exit", (code) => reject(new Error(`the fake CLI exited (${code}) before it took the lock`)));
  });
}

/** The engine with real forked workers running the fake CLI; every `up` of theirs succeeds when it gets the lock. */
async function startForkedEngine(cancelGraceMs: number) {
  const env = { ...process.env, ...SECRETS, FAKE_CLI_UP_MODES: "succeed", FAKE_TAKEOVER_MARGIN_MS: "200" };
  const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0, cancelGraceMs });
  return PulumiEngine.start({ config, runner: new ForkedJobRunner({ workerPath: WORKER, env, passEnv: FAKE_CLI_VARIABLES }), gate: new OperationGate({ maxConcurrent: 2 }), env, logger: silent, detectCli: cliFound });
}

function warnings(events: readonly ProgressEvent[]): string[] {
  return events.flatMap((e) => (e.type === "diagnostic" && e.severity === "warning" ? [e.message] : []));
}

describe("a takeover on a file:// backend", () => {
  it("never breaks the lock of a run that is still alive: it waits the dead run's grace, then reports stack_locked and leaves the lock", async () => {
    const livePid = await liveRunHoldingTheLock();
    const [held] = await lockFiles();
    const engine = await startForkedEngine(300);
    try {
      const events: ProgressEvent[] = [];
      const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true, onEvent: (e) => events.push(e) });

      expect(takeover.status).toBe("failed");
      expect(takeover.error).toMatchObject({ code: "stack_locked", retryable: true });
      expect(takeover.error?.message).toContain(`pid ${livePid}`);
      expect(takeover.error?.message).toMatch(/pulumi cancel/);
      // The live run's lock is where it was, and that run goes on.
      expect(await lockFiles()).toEqual([held]);
      expect(processAlive(livePid)).toBe(true);
      expect(warnings(events).some((m) => /may still be running; waiting/.test(m))).toBe(true);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it("leaves a lock another host holds, whatever its pid, and reports stack_locked", async () => {
    await writeLock("other.json", { pid: await deadPid(), hostname: `not-${os.hostname()}` });
    const engine = await startForkedEngine(300);
    try {
      const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
      expect(takeover.error).toMatchObject({ code: "stack_locked" });
      expect(takeover.error?.message).toContain(`svc@not-${os.hostname()}`);
      expect(await lockFiles()).toEqual(["other.json"]);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it("removes at once a lock whose owner on this host is gone, and only that one, then runs", async () => {
    const dead = await deadPid();
    await writeLock("dead.json", { pid: dead, hostname: os.hostname() });
    // The grace is long: a lock whose owner is seen dead is not waited on.
    const engine = await startForkedEngine(30_000);
    try {
      const events: ProgressEvent[] = [];
      const startedAt = Date.now();
      const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true, onEvent: (e) => events.push(e) });
      expect(takeover.error).toBeNull();
      expect(takeover.status).toBe("succeeded");
      expect(Date.now() - startedAt).toBeLessThan(20_000);
      expect(warnings(events).some((m) => m.includes(`pid ${dead}`) && /process is gone/.test(m))).toBe(true);
      expect(await lockFiles()).toEqual([]);
    } finally {
      await engine.close();
    }
  }, 60_000);
});

describe("a takeover on a backend whose locks cannot be read", () => {
  async function startInProcessEngine(factory: FakeWorkspaceFactory, cancelGraceMs: number) {
    const env = { ...SECRETS, PULUMI_BACKEND_URL: "azblob://matih-state" };
    const config = loadEngineConfig({ ...env, MATIH_DATA_DIR: dataDir }, { lockWaitMs: 0, cancelGraceMs });
    const runner = new InProcessRunner((job, context) => runPulumiWorkerJob(job as PulumiJob, { ...context, factory, env, lockPollMs: 2, takeoverMarginMs: 50 }));
    return PulumiEngine.start({ config, runner, gate: new OperationGate({ maxConcurrent: 2 }), env, logger: silent, detectCli: cliFound });
  }

  it("never runs `pulumi cancel`: it waits the dead run's grace, then reports stack_locked", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replay(successfulUp()));
    stack.lockHeld = true; // held by a run that may be alive: nobody can tell on a bucket
    const engine = await startInProcessEngine(factory, 200);
    const startedAt = Date.now();
    const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
    expect(takeover.error).toMatchObject({ code: "stack_locked", retryable: true });
    expect(takeover.error?.message).toMatch(/cannot tell whether its owner.*is still running/);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200 + 50 - 20);
    expect(factory.callsTo("cancel")).toEqual([]);
    expect(stack.lockHeld).toBe(true);
  });

  it("carries on without cancelling anything once the previous attempt releases its lock", async () => {
    const factory = new FakeWorkspaceFactory();
    const stack = factory.existing("acme").script("up", replay(successfulUp()));
    stack.lockHeld = true;
    setTimeout(() => (stack.lockHeld = false), 100); // the old run was cancelled (its job's signal) and its CLI unlocked
    const engine = await startInProcessEngine(factory, 2_000);
    const takeover = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: true });
    expect(takeover.status).toBe("succeeded");
    expect(factory.callsTo("cancel")).toEqual([]);
  });
});

describe("a run that is not a takeover", () => {
  it("leaves even a dead owner's lock alone: it waits, then reports stack_locked", async () => {
    await writeLock("dead.json", { pid: await deadPid(), hostname: os.hostname() });
    const engine = await startForkedEngine(300);
    try {
      const result = await engine.provision({ spec: tenantSpec(), settings: realRunSettings(), ownerDead: false, lockWaitMs: 100 });
      expect(result.error).toMatchObject({ code: "stack_locked" });
      expect(await lockFiles()).toEqual(["dead.json"]);
      expect(JSON.parse(await readFile(path.join(lockDir(), "dead.json"), "utf8")).hostname).toBe(os.hostname());
    } finally {
      await engine.close();
    }
  }, 60_000);
});

describe("a caller that knows the lock's owner is dead (it killed that process itself)", () => {
  it("may have the lock cancelled on a backend whose locks cannot be read, once the grace is over, and only once", async () => {
    let locked = true;
    const cancels: number[] = [];
    const startedAt = Date.now();
    const value = await withLockHandling(
      async () => {
        if (locked) throw lockConflict();
        return "ran";
      },
      {
        ownerDead: false, ownerKnownDead: true, lockWaitMs: 0, staleLockGraceMs: 100, pollMs: 5, signal: new AbortController().signal,
        backendUrl: "s3://matih-state", stackName: "acme",
        cancelStaleLock: async () => {
          cancels.push(Date.now() - startedAt);
          locked = false;
        },
      },
    );
    expect(value).toBe("ran");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]!).toBeGreaterThanOrEqual(100 - 5);
  });

  it("is never what a takeover is: with only `ownerDead` the same lock is not cancelled", async () => {
    let cancels = 0;
    const attempt = withLockHandling(async () => { throw lockConflict(); }, {
      ownerDead: true, lockWaitMs: 0, staleLockGraceMs: 50, pollMs: 5, signal: new AbortController().signal,
      backendUrl: "s3://matih-state", stackName: "acme",
      cancelStaleLock: async () => void cancels++,
    });
    await expect(attempt).rejects.toMatchObject({ code: "stack_locked" });
    expect(cancels).toBe(0);
  });
});
