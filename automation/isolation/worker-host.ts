/**
 * The worker side of the protocol: receives one job, runs it with a signal
 * that the service can fire, streams events back, reports the result or the
 * error, and exits. One process per operation, so a hang, a crash or leaked
 * global state (Pulumi's runtime is process-global) ends with the process.
 */
import { errorFromInfo, toErrorInfo } from "../core/errors.ts";
import type { ProgressEventBody } from "../core/types.ts";
import type { JobHandler, ParentMessage, WorkerMessage } from "./protocol.ts";

/** How long a worker whose service went away may take to stop its operation before it exits anyway. */
const ORPHAN_GRACE_MS = 60_000;

export function serveJobs(handler: JobHandler): void {
  const controller = new AbortController();
  let started = false;

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
    const context = {
      signal: controller.signal,
      emit: (body: ProgressEventBody) => void send({ type: "event", body }),
      log: (level: "info" | "warn" | "error", text: string) => void send({ type: "log", level, message: text }),
    };
    handler(message.job, context)
      .then((value) => send({ type: "result", value }))
      .catch((error: unknown) => send({ type: "error", error: toErrorInfo(error) }))
      .finally(() => {
        // Inline Pulumi programs leave gRPC servers and timers behind; do not wait for them.
        process.exit(0);
      });
  });

  // The service died or closed the channel: stop the operation (a Pulumi run
  // gets SIGINT and finishes its in-flight steps), then go.
  process.on("disconnect", () => {
    controller.abort(new Error("the service process went away"));
    setTimeout(() => process.exit(1), ORPHAN_GRACE_MS).unref();
    if (!started) process.exit(1);
  });
}
