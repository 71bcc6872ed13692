/**
 * Runs each job in a worker process of its own (child_process.fork of
 * worker.ts; Node 22 runs the TypeScript directly). The worker is the leader
 * of its own process group, so killing the group also kills a pulumi CLI it
 * started: a stuck run cannot outlive its operation.
 *
 * Stopping: on abort the worker is asked to stop cleanly (a Pulumi run gets
 * SIGINT and finishes in-flight steps, leaving state consistent); if it has
 * not exited after `graceMs` the whole group is killed.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { abortReason } from "../core/abort.ts";
import { ConfigurationError, errorFromInfo, toErrorInfo, WorkerCrashedError } from "../core/errors.ts";
import { redactSecrets, secretValues } from "../core/redact.ts";
import type { WorkerJob, WorkerMessage } from "./protocol.ts";
import { settingsSecretNames, workerEnvironment } from "./worker-env.ts";
import type { ProgressEventBody, WorkerPoolStats } from "../core/types.ts";

export interface JobRunOptions {
  /** Fires to stop the job; its reason (an EngineError) is passed on to the worker and becomes the rejection. */
  readonly signal: AbortSignal;
  readonly onEvent?: (body: ProgressEventBody) => void;
  readonly onLog?: (level: "info" | "warn" | "error", message: string) => void;
  /**
   * How long the worker may take to stop after a cancel before its process
   * group is killed; also how long a worker whose service died waits before
   * it kills its own group (see worker-host.ts).
   */
  readonly graceMs: number;
  /**
   * The operation this job is a part of. In a warm worker, jobs of one
   * operation (a fleet preview's chunks) share one copy of the project's
   * modules, as the tenants of one job always do; any other job gets fresh
   * copies (isolation/fresh-modules.ts). Each copy stays loaded until the
   * worker is recycled, so a fleet preview of 40 chunks would otherwise hold
   * 20 copies in each of two workers. Default: a job is an operation of its own.
   */
  readonly operation?: string;
  /**
   * Called when the runner has SIGKILLed the worker's process group while the
   * job had not reported a result: the grace period after a cancel ran out,
   * or the worker crashed and left its children. Whatever they held (a
   * pulumi CLI's stack lock) was not released by them.
   */
  readonly onKilled?: () => void;
}

/** Runs one job somewhere isolated from the caller and resolves with its result. */
export interface JobRunner {
  run(job: WorkerJob, options: JobRunOptions): Promise<unknown>;
  /** How many workers are in which state; runners without warm workers have none. */
  stats?(): WorkerPoolStats;
  /** Ends whatever the runner keeps running between operations. */
  close?(): Promise<void>;
}

/**
 * The Node flags every worker process starts with; explicit, so a worker does
 * not inherit a test runner's or debugger's flags.
 *
 * A render allocates a great deal that dies young (the SDK's promises,
 * protobuf messages, property copies); with V8's default young generation
 * about a third of a render's CPU went to scavenges that promoted short-lived
 * objects. A 32 MiB semi-space lets most of them die young. It is not
 * larger because a worker keeps its young generation committed (two
 * semi-spaces) between operations: 64 MiB saved a further tenth of a fleet
 * preview's CPU but held 64 MB more in every worker, and two workers and the
 * service then went over the 1 GiB a fleet preview may use
 * (docs/performance.md). --minor-ms was slower and held more.
 */
export const WORKER_EXEC_ARGV: readonly string[] = ["--disable-warning=ExperimentalWarning", "--max-semi-space-size=32"];

export const DEFAULT_WORKER_PATH = fileURLToPath(new URL("../worker.ts", import.meta.url));

const STDERR_TAIL_BYTES = 4096;

export interface ForkedJobRunnerOptions {
  /** Module the worker runs; tests point this at workers that misbehave on purpose. */
  readonly workerPath?: string;
  readonly execPath?: string;
  /** The service's environment; workers get only its allow-listed part (see worker-env.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** Further variables passed through by name (tests' fake CLIs read their script from these); default none. */
  readonly passEnv?: readonly string[];
}

/**
 * Whether this Node runs `.ts` files with no flag: type stripping is on by
 * default from 22.18.0 on the 22 line and from 23.6.0 on (Node's changelog).
 * Workers are forked with an explicit, flag-free execArgv, so a service
 * started as `node --experimental-strip-types` on an older 22 would start
 * and then lose every operation to a worker that cannot load.
 */
export function stripsTypesByDefault(nodeVersion: string): boolean {
  const [major = 0, minor = 0] = nodeVersion.replace(/^v/, "").split(".").map(Number);
  if (major === 22) return minor >= 18;
  if (major === 23) return minor >= 6;
  return major > 23;
}

/** The oldest Node versions whose forked `.ts` workers run without flags; package.json `engines` says the same. */
export const NODE_VERSIONS_FOR_WORKERS = "^22.18.0 || >=23.6.0";

export class ForkedJobRunner implements JobRunner {
  private readonly workerPath: string;
  private readonly execPath: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly passEnv: readonly string[];

  constructor(options: ForkedJobRunnerOptions = {}) {
    this.workerPath = options.workerPath ?? DEFAULT_WORKER_PATH;
    this.execPath = options.execPath ?? process.execPath;
    this.env = options.env ?? process.env;
    this.passEnv = options.passEnv ?? [];
    if (this.execPath === process.execPath && !stripsTypesByDefault(process.version)) {
      throw new ConfigurationError(
        `Node ${process.version} cannot run the engine's TypeScript worker processes without flags; run the service on Node ${NODE_VERSIONS_FOR_WORKERS} (npm scripts use the project's pinned Node 22)`,
      );
    }
  }

  run(job: WorkerJob, options: JobRunOptions): Promise<unknown> {
    const { signal } = options;
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const extraNames = [...settingsSecretNames(job), ...this.passEnv];
    return new Promise((resolve, reject) => {
      const child = fork(this.workerPath, [], {
        execPath: this.execPath,
        execArgv: [...WORKER_EXEC_ARGV],
        env: workerEnvironment(this.env, extraNames),
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        detached: true,
        serialization: "advanced",
      });
      let outcome: { ok: true; value: unknown } | { ok: false; error: WorkerMessage & { type: "error" } } | undefined;
      let stderrTail = "";
      let killTimer: NodeJS.Timeout | undefined;
      let spawnError: Error | undefined;

      child.stdout?.resume();
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (chunk: string) => {
        stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
      });

      child.on("message", (raw: unknown) => {
        const message = raw as WorkerMessage;
        switch (message.type) {
          case "event":
            options.onEvent?.(message.body);
            return;
          case "log":
            options.onLog?.(message.level, message.message);
            return;
          case "result":
            outcome = { ok: true, value: message.value };
            return;
          case "error":
            outcome = { ok: false, error: message };
            return;
        }
      });

      let killedUnfinished = false;
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, "SIGKILL");
          if (!outcome) killedUnfinished = true;
        } catch {
          // Already gone.
        }
      };

      const onAbort = () => {
        if (child.connected) child.send({ type: "cancel", reason: toErrorInfo(abortReason(signal)) }, (error) => void error);
        killTimer = setTimeout(killGroup, options.graceMs);
        killTimer.unref();
      };
      signal.addEventListener("abort", onAbort, { once: true });

      child.on("error", (error) => {
        spawnError = error;
        // A worker that never started gets no exit event to settle on.
        if (child.pid === undefined) {
          signal.removeEventListener("abort", onAbort);
          reject(new WorkerCrashedError(`the worker process for this operation could not be started: ${error.message}`));
        }
      });

      child.on("exit", (code, exitSignal) => {
        signal.removeEventListener("abort", onAbort);
        if (killTimer) clearTimeout(killTimer);
        // Whatever the worker started (a pulumi CLI, its plugins) goes with it.
        killGroup();
        if (killedUnfinished) options.onKilled?.();
        if (outcome?.ok) return resolve(outcome.value);
        if (outcome && !outcome.ok) return reject(errorFromInfo(outcome.error.error));
        if (signal.aborted) return reject(abortReason(signal));
        const how = exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`;
        const detail = redactSecrets(stderrTail.trim().split("\n").slice(-12).join("\n"), secretValues(this.env, extraNames));
        reject(new WorkerCrashedError(`the worker process for this operation ${how} without reporting a result${spawnError ? ` (${spawnError.message})` : ""}${detail ? `:\n${detail}` : ""}`));
      });

      // If the job cannot be handed over, the worker would wait forever: end it, and the exit reports the crash.
      if (child.pid !== undefined) child.send({ type: "run", job, graceMs: options.graceMs, ...(options.operation ? { operation: options.operation } : {}) }, (error) => error && killGroup());
    });
  }
}
