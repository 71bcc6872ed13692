import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { RunQueue } from "../db/job-queue.ts";
import { AttemptFailedError, RunExecutor } from "../runs/run-executor.ts";

declare module "fastify" {
  interface FastifyInstance {
    runQueue: RunQueue;
    executor: RunExecutor;
  }
}

export interface RunQueuePluginOptions {
  databaseUrl: string;
  settings: PlatformSettings;
  maxAttempts: number;
  retryDelaySeconds: number;
  heartbeatSeconds: number;
  rollbackPolicy: "keep" | "destroy";
  /** Run jobs in this process; false for an API-only process. */
  worker: boolean;
  workerConcurrency: number;
  /** How long a shutdown waits for running jobs before handing them back. */
  shutdownGraceMs: number;
  /**
   * When workers start taking jobs: once the app is ready (default; tests that
   * only inject), or once the server listens, so that a process that cannot
   * bind its port never takes a run.
   */
  startWorkersOn?: "ready" | "listen";
}

/**
 * The durable queue and, in worker processes, the executor that takes its
 * jobs. Workers start once the service is ready; on close the process stops
 * taking jobs, lets running ones finish within the grace period, then
 * cancels them so that another process takes them again.
 */
async function runQueuePlugin(fastify: FastifyInstance, opts: RunQueuePluginOptions): Promise<void> {
  const queue = new RunQueue({
    databaseUrl: opts.databaseUrl,
    maxAttempts: opts.maxAttempts,
    retryDelaySeconds: opts.retryDelaySeconds,
    heartbeatSeconds: opts.heartbeatSeconds,
    expireInSeconds: 4 * 3600,
    onError: (err) => fastify.log.warn({ err }, "run queue problem"),
  });
  await queue.start();
  const executor = new RunExecutor({
    pool: fastify.db,
    engine: fastify.engine,
    bus: fastify.bus,
    settings: opts.settings,
    rollbackPolicy: opts.rollbackPolicy,
    log: fastify.log,
    metrics: fastify.metrics,
  });
  fastify.metrics.queueDepth = () => queue.depth();
  fastify.decorate("runQueue", queue);
  fastify.decorate("executor", executor);

  if (opts.worker) {
    fastify.addHook(opts.startWorkersOn === "listen" ? "onListen" : "onReady", async () => {
      await queue.work(opts.workerConcurrency, async (job) => {
        try {
          await executor.execute(job);
        } catch (err) {
          if (!(err instanceof AttemptFailedError)) fastify.log.error({ err, runId: job.data.runId }, "run attempt crashed");
          throw err;
        }
      });
      fastify.log.info({ concurrency: opts.workerConcurrency }, "taking provisioning runs");
    });
  }
  fastify.addHook("onClose", async () => {
    const grace = setTimeout(() => executor.abortAll(), opts.shutdownGraceMs);
    try {
      await queue.stop(opts.shutdownGraceMs + 5000);
    } finally {
      clearTimeout(grace);
    }
  });
}

export default fp(runQueuePlugin, { name: "matih-run-queue", fastify: "5.x", dependencies: ["matih-database", "matih-engine", "matih-progress-bus", "matih-metrics"] });
