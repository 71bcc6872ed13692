import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { OperationCancelledError, StackNotFoundError, WorkerCrashedError } from "../../../automation/core/errors.ts";
import type { ProgressEventBody } from "../../../automation/core/types.ts";
import type { RenderOutcome, WorkerJob } from "../../../automation/isolation/protocol.ts";
import { WorkerPool, type WorkerPoolOptions } from "../../../automation/isolation/worker-pool.ts";
import { platformSettings, tenantSpec } from "../helpers/tenants.ts";
import { runHungJob } from "../helpers/hung-job.ts";
import { eventually as eventuallyWithin, isAlive } from "../../support/processes.ts";

const MISBEHAVING = fileURLToPath(new URL("../fixtures/misbehaving-worker.ts", import.meta.url));
const eventually = (check: () => boolean, what: string) => eventuallyWithin(check, what, 10000);

const job = (mode: string, extra: Record<string, unknown> = {}) => ({ mode, ...extra }) as unknown as WorkerJob;
const never = () => new AbortController().signal;
const pools: WorkerPool[] = [];

function pool(options: Partial<WorkerPoolOptions> = {}): WorkerPool {
  const created = new WorkerPool({ size: 1, maxOperations: 50, maxRssBytes: 2 ** 30, workerPath: MISBEHAVING, ...options });
  pools.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const pidOf = async (p: WorkerPool, mode = "echo") => ((await p.run(job(mode), { signal: never(), graceMs: 1000 })) as { pid: number }).pid;

describe("the warm worker pool", () => {
  it("runs operations one after another in the same warm worker process, streaming events back", async () => {
    const workers = pool();
    const events: ProgressEventBody[] = [];
    const first = (await workers.run(job("echo"), { signal: never(), graceMs: 1000, onEvent: (e) => events.push(e) })) as { pid: number };
    const second = await pidOf(workers);
    expect(first.pid).not.toBe(process.pid);
    expect(second).toBe(first.pid);
    expect(events).toEqual([{ type: "diagnostic", severity: "warning", message: "hello from the worker", urn: null, phase: null }]);
  });

  it("does not let a tenant's module-level state from one operation be seen by the next in the same worker", async () => {
    const workers = pool();
    const acme = (await workers.run(job("tenant-state", { slug: "acme" }), { signal: never(), graceMs: 1000 })) as { pid: number; seen: string[] };
    const globex = (await workers.run(job("tenant-state", { slug: "globex" }), { signal: never(), graceMs: 1000 })) as { pid: number; seen: string[] };
    expect(globex.pid).toBe(acme.pid);
    expect(acme.seen).toEqual(["acme"]);
    expect(globex.seen).toEqual(["globex"]);
  });

  it("lets the jobs of one named operation share its modules, and gives the next operation fresh ones", async () => {
    const workers = pool();
    const part = async (slug: string, operation?: string) =>
      ((await workers.run(job("tenant-state", { slug }), { signal: never(), graceMs: 1000, ...(operation ? { operation } : {}) })) as { seen: string[] }).seen;
    expect(await part("acme", "fleet-preview-1")).toEqual(["acme"]);
    expect(await part("globex", "fleet-preview-1")).toEqual(["acme", "globex"]);
    expect(await part("initech", "fleet-preview-2")).toEqual(["initech"]);
    expect(await part("umbrella")).toEqual(["umbrella"]);
    // An unnamed job is an operation of its own, even after another unnamed one.
    expect(await part("hooli")).toEqual(["hooli"]);
  });

  it("brings a result back in its JSON form, as the JSON channel did, though the channel clones", async () => {
    const result = await pool().run(job("not-plain"), { signal: never(), graceMs: 1000 });
    expect(result).toStrictEqual({ when: "1970-01-01T00:00:00.000Z", url: "https://matih.ai/x", kept: 1 });
  });

  it("brings typed errors back and keeps the worker for the next operation", async () => {
    const workers = pool();
    const before = await pidOf(workers);
    await expect(workers.run(job("throw"), { signal: never(), graceMs: 1000 })).rejects.toBeInstanceOf(StackNotFoundError);
    expect(await pidOf(workers)).toBe(before);
  });

  it("reports a crashed worker as worker_crashed with its stderr, and replaces it with a new process", async () => {
    const workers = pool();
    const before = await pidOf(workers);
    const crash = workers.run(job("crash"), { signal: never(), graceMs: 1000 });
    await expect(crash).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(crash).rejects.toThrow(/exited with code 3[\s\S]*about to fall over/);
    const after = await pidOf(workers);
    expect(after).not.toBe(before);
    expect(isAlive(before)).toBe(false);
    expect(workers.stats().replaced.crashed).toBe(1);
  });

  it("kills a hung worker and what it started once the grace period after a cancel is over, and replaces it", async () => {
    const workers = pool();
    const before = await pidOf(workers);
    const { running, grandchild } = runHungJob(workers);
    await expect(running).rejects.toBeInstanceOf(OperationCancelledError);
    expect(grandchild()).toBeGreaterThan(0);
    await eventually(() => !isAlive(grandchild()) && !isAlive(before), "the hung worker and its grandchild are killed");
    expect(await pidOf(workers)).not.toBe(before);
    expect(workers.stats().replaced.killed).toBe(1);
  });

  it("recycles a worker after its maximum number of operations", async () => {
    const workers = pool({ maxOperations: 2 });
    const pids = [await pidOf(workers), await pidOf(workers), await pidOf(workers)];
    expect(pids[1]).toBe(pids[0]);
    expect(pids[2]).not.toBe(pids[0]);
    await eventually(() => !isAlive(pids[0]!), "the recycled worker has exited");
    expect(workers.stats().replaced.recycled).toBe(1);
  });

  it("starts workers with a young generation sized for renders and an old generation capped at half the recycle limit", async () => {
    const workers = pool({ maxRssBytes: 512 * 2 ** 20 });
    const { execArgv } = (await workers.run(job("exec-argv"), { signal: never(), graceMs: 1000 })) as { execArgv: string[] };
    expect(execArgv).toEqual(["--disable-warning=ExperimentalWarning", "--max-semi-space-size=32", "--max-old-space-size=256"]);
  });

  it("recycles a worker whose memory is above the limit after an operation", async () => {
    const workers = pool({ maxRssBytes: 128 * 2 ** 20 });
    const grown = await pidOf(workers, "grow");
    expect(await pidOf(workers)).not.toBe(grown);
    expect(workers.stats().replaced.recycled).toBe(1);
  });

  it("runs at most one operation per worker at once, queues the rest and reports how long they waited", async () => {
    const waits: number[] = [];
    const workers = pool({ size: 2, onWait: (s) => waits.push(s) });
    workers.warmUp();
    await eventually(() => workers.stats().idle === 2, "both workers are warm");
    const runs = Array.from({ length: 6 }, () => workers.run(job("slow"), { signal: never(), graceMs: 1000 }));
    await new Promise((r) => setTimeout(r, 100));
    expect(workers.stats()).toMatchObject({ busy: 2, idle: 0, waiting: 4 });
    const pids = ((await Promise.all(runs)) as { pid: number }[]).map((r) => r.pid);
    expect(new Set(pids).size).toBe(2);
    expect(waits).toHaveLength(6);
    // Two ran at once: the last pair waited for two slow (300 ms) operations before them.
    expect(Math.max(...waits)).toBeGreaterThan(0.5);
    expect(workers.stats()).toMatchObject({ busy: 0, idle: 2, waiting: 0 });
  });

  it("takes a cancelled operation out of the queue without running it", async () => {
    const workers = pool();
    const first = workers.run(job("slow"), { signal: never(), graceMs: 1000 });
    const controller = new AbortController();
    const queued = workers.run(job("crash"), { signal: controller.signal, graceMs: 1000 });
    controller.abort(new OperationCancelledError());
    await expect(queued).rejects.toBeInstanceOf(OperationCancelledError);
    await first;
    expect(workers.stats().replaced.crashed).toBe(0);
  });

  it("gives workers only the allow-listed environment plus the secret variable a job's settings name", async () => {
    const env = { PATH: process.env.PATH, SERVICE_DB_URL: "postgres://service:hunter2@db", MATIH_PG_ADMIN_PASSWORD: "pw-default", OTHER_PG_PASSWORD: "pw-other" };
    const workers = pool({ env, warmEnvNames: ["MATIH_PG_ADMIN_PASSWORD"] });
    const needing = (name: string) => job("env-names", { kind: "render", renders: [{ settings: { postgres: { adminPasswordEnv: name } } }] });
    const first = (await workers.run(needing("MATIH_PG_ADMIN_PASSWORD"), { signal: never(), graceMs: 1000 })) as { pid: number; names: string[] };
    expect(first.names).toContain("MATIH_PG_ADMIN_PASSWORD");
    expect(first.names).not.toContain("SERVICE_DB_URL");
    expect(first.names).not.toContain("OTHER_PG_PASSWORD");
    const other = (await workers.run(needing("OTHER_PG_PASSWORD"), { signal: never(), graceMs: 1000 })) as { pid: number; names: string[] };
    expect(other.pid).not.toBe(first.pid);
    expect(other.names).toContain("OTHER_PG_PASSWORD");
    expect(other.names).not.toContain("MATIH_PG_ADMIN_PASSWORD");
  });

  it("ends every worker when it is closed", async () => {
    const workers = pool({ size: 2 });
    workers.warmUp();
    await eventually(() => workers.stats().idle === 2, "both workers are warm");
    const pids = workers.pids();
    await workers.close();
    await eventually(() => pids.every((pid) => !isAlive(pid)), "every worker has exited");
    await expect(workers.run(job("echo"), { signal: never(), graceMs: 1000 })).rejects.toBeInstanceOf(WorkerCrashedError);
  });
});

describe("the warm worker pool with the real worker", () => {
  it("renders the same tenant twice in one warm worker with the same result, the program loaded afresh each time", async () => {
    const workers = new WorkerPool({ size: 1, maxOperations: 50, maxRssBytes: 2 ** 30 });
    pools.push(workers);
    const renders = [{ spec: tenantSpec({ tier: "professional" }), settings: platformSettings(), lastPhase: 10 }];
    const first = (await workers.run({ kind: "render", renders }, { signal: never(), graceMs: 1000 })) as RenderOutcome[];
    const pid = workers.pids()[0];
    const second = (await workers.run({ kind: "render", renders }, { signal: never(), graceMs: 1000 })) as RenderOutcome[];
    expect(workers.pids()).toEqual([pid]);
    expect(first[0]!.ok).toBe(true);
    expect(second).toEqual(first);
  }, 60_000);
});
