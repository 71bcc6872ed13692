/**
 * The worker side of the protocol: receives one job, runs it with a signal
 * that the service can fire, streams events back, reports the result or the
 * error, and exits. One process per operation, so a hang, a crash or leaked
 * global state (Pulumi's runtime is process-global) ends with the process.
 */
import { errorFromInfo, toErrorInfo } from "../core/errors.ts";
import type { ProgressEventBody } from "../core/types.ts";
import type { JobHandler, ParentMessage, WorkerMessage } from "./protocol.ts";

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

export function serveJobs(handler: JobHandler): void {
  const controller = new AbortController();
  let started = false;
  let orphanGraceMs = DEFAULT_ORPHAN_GRACE_MS;
  let orphaned = false;

  const send = (message: WorkerMessage): Promise<void> =>
    new Promise((resolve) => {
      if (!process.connected || !process.send) return resolve();
      process.send(message, undefined, {}, () => resolve());
    });

  process.on("message", (raw: unknown) => {
    const message = raw as ParentMessage;
    if (message.type === "cancel") {
      controller.abort(errorFromInfo(message.reason));
      return;
    }
    if (message.type !== "run" || started) return;
    started = true;
    if (typeof message.graceMs === "number" && message.graceMs >= 0) orphanGraceMs = message.graceMs;
    const context = {
      signal: controller.signal,
      emit: (body: ProgressEventBody) => void send({ type: "event", body }),
      log: (level: "info" | "warn" | "error", text: string) => void send({ type: "log", level, message: text }),
    };
    handler(message.job, context)
      .then((value) => send({ type: "result", value }))
      .catch((error: unknown) => send({ type: "error", error: toErrorInfo(error) }))
      .finally(() => {
        // An orphan takes whatever it started with it; the job is another process's now.
        if (orphaned) killOwnGroup();
        // Inline Pulumi programs leave gRPC servers and timers behind; do not wait for them.
        process.exit(0);
      });
  });

  // The service died or closed the channel: stop the operation (a Pulumi run
  // gets SIGINT and finishes its in-flight steps), and once the grace period
  // is over kill the whole process group, the CLI included. Another process
  // takes the job only after the heartbeat lapses and then waits out this
  // same grace before it breaks the lock (see pulumi/locks.ts).
  process.on("disconnect", () => {
    orphaned = true;
    if (!started) process.exit(1);
    controller.abort(new Error("the service process went away"));
    // Not unref'd: the timer must fire even if nothing else keeps the worker alive.
    setTimeout(killOwnGroup, orphanGraceMs);
  });
}
