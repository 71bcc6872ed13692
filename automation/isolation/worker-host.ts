/**
 * The worker side of the protocol: receives a job, runs it with a signal that
 * the service can fire, streams events back, and reports the result or the
 * error.
 *
 * Two modes. Started plainly, the worker runs one job and exits: a hang, a
 * crash or leaked global state ends with the process. Started with
 * POOL_MODE_FLAG (a warm worker of worker-pool.ts), it warms up, reports
 * ready, and then runs one job at a time for as long as the pool keeps it;
 * each job gets fresh copies of the project's modules (fresh-modules.ts), and
 * a crash or hang still ends the process, which the pool replaces.
 */
import { errorFromInfo, toErrorInfo } from "../core/errors.ts";
import type { ProgressEventBody } from "../core/types.ts";
import { beginFreshOperation, installFreshModules } from "./fresh-modules.ts";
import { POOL_MODE_FLAG, type JobHandler, type ParentMessage, type ServeOptions, type WorkerMessage } from "./protocol.ts";

/** How long a worker whose service went away lets its operation stop, unless the run message says (the engine's cancel grace). */
const DEFAULT_ORPHAN_GRACE_MS = 60_000;

/**
 * Ends the worker and everything in its process group (it leads the group:
 * forked detached). Exiting alone would leave a pulumi CLI running, holding
 * the stack lock and writing the checkpoint, after another process has taken
 * the job over.
 */
function killOwnGroup(): never {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    // Not a group leader (a test harness); at least go ourselves.
  }
  process.exit(1);
}

/**
 * A result as JSON would carry it (toJSON applied, undefined properties
 * dropped, class instances as their data): the channel clones what it is
 * given (protocol.ts), and results from the Automation API or a render are
 * read by the service, and stored, in their JSON form.
 */
function inJsonForm(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

export function serveJobs(handler: JobHandler, options: ServeOptions = {}): void {
  const pooled = process.argv.includes(POOL_MODE_FLAG);
  let current: AbortController | null = null;
  let started = false;
  let orphanGraceMs = DEFAULT_ORPHAN_GRACE_MS;
  let orphaned = false;
  /** The operation the last job belonged to, if it named one. */
  let lastOperation: string | undefined;

  const send = (message: WorkerMessage): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected || !process.send) return resolve();
      process.send(message, undefined, {}, () => resolve());
    });

  const runJob = (message: ParentMessage & { type: "run" }) => {
    const controller = new AbortController();
    current = controller;
    if (typeof message.graceMs === "number" && message.graceMs >= 0) orphanGraceMs = message.graceMs;
    // The next part of the same operation keeps its modules; anything else starts afresh.
    if (pooled && !(message.operation && message.operation === lastOperation)) beginFreshOperation();
    lastOperation = message.operation;
    const context = {
      signal: controller.signal,
      emit: (body: ProgressEventBody) => void send({ type: "event", body }),
      log: (level: "info" | "warn" | "error", text: string) => void send({ type: "log", level, message: text }),
    };
    const settled = handler(message.job, context)
      .then((value) => send({ type: "result", value: inJsonForm(value) }))
      .catch((error: unknown) => send({ type: "error", error: toErrorInfo(error) }));
    void settled.then(async () => {
      // An orphan takes whatever it started with it; the job is another process's now.
      if (orphaned) killOwnGroup();
      // Inline Pulumi programs leave gRPC servers and timers behind; a one-job worker does not wait for them.
      if (!pooled) process.exit(0);
      current = null;
      await send({ type: "idle", rssBytes: process.memoryUsage().rss });
    });
  };

  process.on("message", (raw: unknown) => {
    const message = raw as ParentMessage;
    if (message.type === "cancel") {
      current?.abort(errorFromInfo(message.reason));
      return;
    }
    if (message.type !== "run") return;
    // One operation per worker at a time; a plain worker takes exactly one.
    if (current || (!pooled && started)) return;
    started = true;
    runJob(message);
  });

  // The service died or closed the channel: stop the operation (a Pulumi run
  // gets SIGINT and finishes its in-flight steps), and once the grace period
  // is over kill the whole process group, the CLI included. Another process
  // takes the job only after the heartbeat lapses and then waits out this
  // same grace before it breaks the lock (see pulumi/locks.ts).
  process.on("disconnect", () => {
    orphaned = true;
    // An idle warm worker holds nothing: it just goes.
    if (!current) process.exit(pooled ? 0 : 1);
    current.abort(new Error("the service process went away"));
    // Not unref'd: the timer must fire even if nothing else keeps the worker alive.
    setTimeout(killOwnGroup, orphanGraceMs);
  });

  if (pooled) {
    installFreshModules();
    void (options.warmUp?.() ?? Promise.resolve())
      .catch((error: unknown) => send({ type: "log", level: "warn", message: `worker warm-up failed: ${error instanceof Error ? error.message : String(error)}` }))
      .then(() => send({ type: "ready" }));
  }
}
