/**
 * A pool of warm worker processes. Starting a worker and loading the Pulumi
 * SDK, the provider packages and the program costs seconds; the pool pays it
 * before an operation arrives, and keeps today's isolation:
 *
 * - one operation per worker at a time; operations beyond the pool's size wait
 *   for a free worker (the wait is measured);
 * - a worker that crashes is replaced; one that does not stop within the grace
 *   period after a cancel or timeout has its process group killed (a pulumi
 *   CLI it started goes with it) and is replaced;
 * - a worker is recycled after `maxOperations` operations or when its memory
 *   is above `maxRssBytes` after an operation;
 * - each operation gets fresh copies of the project's modules, so a tenant's
 *   module-level state is never seen by the next operation (fresh-modules.ts).
 *
 * The Pulumi engine uses the same pool; its CLI remains a process per operation.
 */
import { fork, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { abortReason } from "../core/abort.ts";
import { errorFromInfo, toErrorInfo, WorkerCrashedError } from "../core/errors.ts";
import { redactSecrets, secretValues } from "../core/redact.ts";
import { ConfigurationError } from "../core/errors.ts";
import { DEFAULT_WORKER_PATH, NODE_VERSIONS_FOR_WORKERS, WORKER_EXEC_ARGV, stripsTypesByDefault, type JobRunner, type JobRunOptions } from "./forked-runner.ts";
import { settingsSecretNames, workerEnvironment } from "./worker-env.ts";
import type { WorkerPoolStats, WorkerState } from "../core/types.ts";
import { POOL_MODE_FLAG, type WorkerJob, type WorkerMessage } from "./protocol.ts";

const STDERR_TAIL_BYTES = 4096;
const MAX_START_FAILURES = 3;

export interface WorkerPoolOptions {
  /** MATIH_WORKERS: how many warm workers, and so how many operations run at once; default 2. */
  readonly size: number;
  /** MATIH_WORKER_MAX_OPERATIONS: operations a worker runs before it is replaced; default 50. */
  readonly maxOperations: number;
  /** MATIH_WORKER_MAX_RSS_MB (in bytes here): a worker above this after an operation is replaced; default 768 MiB. */
  readonly maxRssBytes: number;
  /** Module the workers run; tests point this at workers that misbehave on purpose. */
  readonly workerPath?: string;
  readonly execPath?: string;
  /** The service's environment; workers get only its allow-listed part (see worker-env.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The secret variables the platform settings name (settingsSecretNames) that
   * warm workers are started with; a job whose settings name others gets a
   * worker started for them. Default none.
   */
  readonly warmEnvNames?: readonly string[];
  /** Told how long each operation waited for a free, warm worker. */
  readonly onWait?: (seconds: number) => void;
}

interface Job {
  readonly job: WorkerJob;
  readonly options: JobRunOptions;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

class PooledWorker {
  state: WorkerState = "starting";
  /** Which settings-named secret variables its environment holds (sorted, comma-joined). */
  envKey = "";
  operations = 0;
  stderrTail = "";
  current: Job | null = null;
  outcome: { ok: true; value: unknown } | { ok: false; error: WorkerMessage & { type: "error" } } | undefined;
  killTimer: NodeJS.Timeout | undefined;
  detachAbort: (() => void) | undefined;
  killedOnPurpose = false;
  readonly child: ChildProcess;
  constructor(child: ChildProcess) {
    this.child = child;
  }

  /** Whether the group's processes ended in the middle of an operation, holding what they held (a pulumi CLI's stack lock). */
  killedUnfinished = false;

  /** True when something in the group was still there to kill. */
  killGroup(): boolean {
    if (this.child.pid === undefined) return false;
    try {
      process.kill(-this.child.pid, "SIGKILL");
      if (this.current && !this.outcome) this.killedUnfinished = true;
      return true;
    } catch {
      return false; // Already gone.
    }
  }
}

export type { WorkerPoolStats, WorkerState };

export class WorkerPool implements JobRunner {
  private readonly workers = new Set<PooledWorker>();
  private readonly queue: { job: Job; queuedAt: number }[] = [];
  private readonly replaced = { crashed: 0, killed: 0, recycled: 0 };
  private readonly workerPath: string;
  private readonly execPath: string;
  private readonly env: NodeJS.ProcessEnv;
  private closed = false;
  /** Workers in a row that died before they were ready; stops a crash loop (a broken install, a bad environment). */
  private startFailures = 0;

  private readonly options: WorkerPoolOptions;

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`a worker pool needs at least one worker, got ${options.size}`);
    this.workerPath = options.workerPath ?? DEFAULT_WORKER_PATH;
    this.execPath = options.execPath ?? process.execPath;
    this.env = options.env ?? process.env;
    if (this.execPath === process.execPath && !stripsTypesByDefault(process.version)) {
      throw new ConfigurationError(
        `Node ${process.version} cannot run the engine's TypeScript worker processes without flags; run the service on Node ${NODE_VERSIONS_FOR_WORKERS} (npm scripts use the project's pinned Node 22)`,
      );
    }
  }

  /** Starts workers up to the pool's size so that the first operations find them warm. */
  warmUp(): void {
    const key = envKey(this.options.warmEnvNames ?? []);
    while (!this.closed && this.workers.size < this.options.size) this.spawn(key);
  }

  stats(): WorkerPoolStats {
    const count = (state: WorkerState) => [...this.workers].filter((w) => w.state === state).length;
    return { starting: count("starting"), idle: count("idle"), busy: count("busy"), waiting: this.queue.length, replaced: { ...this.replaced } };
  }

  /** The pids of the live workers; for tests and diagnostics. */
  pids(): number[] {
    return [...this.workers].map((w) => w.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  run(job: WorkerJob, options: JobRunOptions): Promise<unknown> {
    if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
    if (this.closed) return Promise.reject(new WorkerCrashedError("the worker pool is shut down"));
    return new Promise((resolve, reject) => {
      const entry = { job: { job, options, resolve, reject }, queuedAt: performance.now() };
      // Cancelled while waiting: leave the queue, never reach a worker.
      const onAbort = () => {
        const index = this.queue.indexOf(entry);
        if (index < 0) return;
        this.queue.splice(index, 1);
        reject(abortReason(options.signal));
      };
      options.signal.addEventListener("abort", onAbort, { once: true });
      const originalResolve = entry.job.resolve;
      const originalReject = entry.job.reject;
      Object.assign(entry.job, {
        resolve: (v: unknown) => (options.signal.removeEventListener("abort", onAbort), originalResolve(v)),
        reject: (e: unknown) => (options.signal.removeEventListener("abort", onAbort), originalReject(e)),
      });
      this.queue.push(entry);
      this.dispatch();
    });
  }

  /** Kills every worker; running operations fail as crashed (the engines cancel theirs before). */
  async close(): Promise<void> {
    this.closed = true;
    for (const { job } of this.queue.splice(0)) job.reject(new WorkerCrashedError("the worker pool is shut down"));
    const exits = [...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
      w.child.once("exit", () => resolve());
      w.child.ref();
      w.killedOnPurpose = true;
      w.killGroup();
    }));
    await Promise.all(exits);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const key = envKey(settingsSecretNames(this.queue[0]!.job.job));
      const workers = [...this.workers];
      const worker = workers.find((w) => w.state === "idle" && w.envKey === key);
      if (!worker) {
        if (!this.closed && !workers.some((w) => w.state === "starting" && w.envKey === key)) {
          // A worker for this job's environment: a new one while there is room, else one in place of an idle worker started for another.
          const other = workers.find((w) => w.state === "idle");
          if (this.workers.size < this.options.size) this.spawn(key);
          else if (other) {
            this.retire(other);
            this.spawn(key);
          }
        }
        for (const w of this.workers) this.idleRefs(w);
        return;
      }
      const { job, queuedAt } = this.queue.shift()!;
      this.options.onWait?.((performance.now() - queuedAt) / 1000);
      this.start(worker, job);
    }
  }

  private spawn(key: string): PooledWorker {
    const child = fork(this.workerPath, [POOL_MODE_FLAG], {
      execPath: this.execPath,
      execArgv: [...WORKER_EXEC_ARGV, `--max-old-space-size=${oldSpaceMb(this.options.maxRssBytes)}`],
      env: workerEnvironment(this.env, key ? key.split(",") : []),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      // Leader of its own process group: killing the group also kills a pulumi CLI it started.
      detached: true,
      serialization: "advanced",
    });
    const worker = new PooledWorker(child);
    worker.envKey = key;
    this.workers.add(worker);
    this.idleRefs(worker);
    child.stdout?.resume();
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      worker.stderrTail = (worker.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on("message", (raw: unknown) => this.onMessage(worker, raw as WorkerMessage));
    child.on("error", (error) => {
      if (child.pid !== undefined) return; // the exit event settles it
      this.workers.delete(worker);
      const job = worker.current;
      worker.current = null;
      job?.reject(new WorkerCrashedError(`a worker process could not be started: ${error.message}`));
      // Do not spin on a worker that cannot start: fail what waits.
      for (const { job: waiting } of this.queue.splice(0)) waiting.reject(new WorkerCrashedError(`a worker process could not be started: ${error.message}`));
    });
    child.on("exit", (code, signal) => this.onExit(worker, code, signal));
    return worker;
  }

  /** An idle pool must not keep the service process alive; a busy worker does. */
  private idleRefs(worker: PooledWorker): void {
    const busy = worker.state === "busy" || (worker.state === "starting" && this.queue.length > 0);
    const channel = worker.child.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (busy) {
      worker.child.ref();
      channel?.ref?.();
    } else {
      worker.child.unref();
      channel?.unref?.();
    }
    const streams = [worker.child.stdout, worker.child.stderr] as unknown as ({ ref?: () => void; unref?: () => void } | null)[];
    for (const s of streams) (busy ? s?.ref?.() : s?.unref?.());
  }

  private start(worker: PooledWorker, job: Job): void {
    worker.state = "busy";
    worker.current = job;
    worker.outcome = undefined;
    worker.killedUnfinished = false;
    worker.operations += 1;
    this.idleRefs(worker);
    const { signal, graceMs, operation } = job.options;
    const onAbort = () => {
      if (worker.child.connected) worker.child.send({ type: "cancel", reason: toErrorInfo(abortReason(signal)) }, (error) => void error);
      worker.killTimer = setTimeout(() => {
        worker.killedOnPurpose = true;
        worker.killGroup();
      }, graceMs);
      worker.killTimer.unref();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    worker.detachAbort = () => signal.removeEventListener("abort", onAbort);
    // If the job cannot be handed over, the worker would wait forever: end it, and the exit reports the crash.
    worker.child.send({ type: "run", job: job.job, graceMs, ...(operation ? { operation } : {}) }, (error) => error && worker.killGroup());
  }

  private onMessage(worker: PooledWorker, message: WorkerMessage): void {
    switch (message.type) {
      case "ready":
        if (worker.state !== "starting") return;
        worker.state = "idle";
        this.startFailures = 0;
        this.dispatch();
        return;
      case "event":
        worker.current?.options.onEvent?.(message.body);
        return;
      case "log":
        worker.current?.options.onLog?.(message.level, message.message);
        return;
      case "result":
        worker.outcome = { ok: true, value: message.value };
        return;
      case "error":
        worker.outcome = { ok: false, error: message };
        return;
      case "idle":
        this.finish(worker, message.rssBytes);
        return;
    }
  }

  private settle(worker: PooledWorker): Job | null {
    const job = worker.current;
    worker.current = null;
    worker.detachAbort?.();
    worker.detachAbort = undefined;
    if (worker.killTimer) clearTimeout(worker.killTimer);
    worker.killTimer = undefined;
    return job;
  }

  private finish(worker: PooledWorker, rssBytes: number): void {
    const job = this.settle(worker);
    const outcome = worker.outcome;
    worker.outcome = undefined;
    if (job) {
      if (outcome?.ok) job.resolve(outcome.value);
      else if (outcome) job.reject(errorFromInfo(outcome.error.error));
      else job.reject(new WorkerCrashedError("the worker finished its operation without reporting a result"));
    }
    if (this.closed || worker.operations >= this.options.maxOperations || rssBytes > this.options.maxRssBytes) {
      this.retire(worker);
      if (!this.closed) this.warmUp();
      this.dispatch();
      return;
    }
    worker.state = "idle";
    this.idleRefs(worker);
    this.dispatch();
  }

  /** Recycles an idle worker: it holds no operation, so ending its group loses nothing. */
  private retire(worker: PooledWorker): void {
    this.replaced.recycled += 1;
    worker.killedOnPurpose = true;
    this.workers.delete(worker);
    worker.killGroup();
  }

  private onExit(worker: PooledWorker, code: number | null, exitSignal: NodeJS.Signals | null): void {
    const wasKnown = this.workers.delete(worker);
    // Whatever the worker started (a pulumi CLI, its plugins) goes with it.
    worker.killGroup();
    if (worker.current && worker.killedUnfinished) worker.current.options.onKilled?.();
    const job = this.settle(worker);
    if (job) {
      const outcome = worker.outcome;
      const signal = job.options.signal;
      if (outcome?.ok) job.resolve(outcome.value);
      else if (outcome && !outcome.ok) job.reject(errorFromInfo(outcome.error.error));
      else if (signal.aborted) {
        this.replaced.killed += 1;
        job.reject(abortReason(signal));
      } else {
        this.replaced.crashed += 1;
        const how = exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`;
        const detail = redactSecrets(worker.stderrTail.trim().split("\n").slice(-12).join("\n"), secretValues(this.env, worker.envKey ? worker.envKey.split(",") : []));
        job.reject(new WorkerCrashedError(`the worker process for this operation ${how} without reporting a result${detail ? `:\n${detail}` : ""}`));
      }
    } else if (wasKnown && !worker.killedOnPurpose) {
      this.replaced.crashed += 1;
      if (worker.state === "starting" && ++this.startFailures >= MAX_START_FAILURES) {
        this.startFailures = 0;
        const how = exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`;
        const detail = redactSecrets(worker.stderrTail.trim().split("\n").slice(-12).join("\n"), secretValues(this.env, worker.envKey ? worker.envKey.split(",") : []));
        const error = new WorkerCrashedError(`${MAX_START_FAILURES} worker processes in a row ${how} before they were ready${detail ? `:\n${detail}` : ""}`);
        for (const { job: waiting } of this.queue.splice(0)) waiting.reject(error);
        return;
      }
    }
    if (!this.closed) {
      // Replace it while there is work; an idle pool refills to its size.
      this.warmUp();
      this.dispatch();
    }
  }
}

/**
 * V8's old-generation limit for a warm worker: half its recycle limit. Left to
 * itself V8 lets a long-lived worker's heap grow towards gigabytes of garbage
 * before collecting it (a fleet preview took two workers to 700 MB each);
 * capped, it collects sooner, at no measurable cost in render time, and a
 * worker stays well under the memory at which it is recycled. A render's live
 * data is far below the cap (about 100 MB for a 25-tenant fleet chunk).
 */
function oldSpaceMb(maxRssBytes: number): number {
  return Math.max(128, Math.floor(maxRssBytes / 2 ** 20 / 2));
}

function envKey(names: readonly string[]): string {
  return [...new Set(names)].sort().join(",");
}
