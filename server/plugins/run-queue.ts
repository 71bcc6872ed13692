import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { RunQueue } from "../db/job-queue.ts";
import { AttemptFailedError, RunExecutor } from "../runs/run-executor.ts";
import { RunSweeper } from "../runs/run-sweeper.ts";

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
  /** MATIH_OPS_EMAIL: where an applied change's resource detail is mailed; null: nowhere. */
  opsEmail?: string | null;
  /** Run jobs in this process; false for an API-only process. */
  worker: boolean;
  workerConcurrency: number;
  /** How long a shutdown waits for running jobs before handing them back. */
  shutdownGraceMs: number;
  /** How often runs whose job ended without finishing them are failed; default 5 s. */
  sweepIntervalMs?: number;
  /** How long a preview or drift check can run at most (the engine's time limit plus a margin); see RunSweeper. */
  inspectionLimitMs?: number;
  /**
   * When workers start taking jobs: once the app is ready (default; tests that
   * only inject), or once the server listens, so that a process that cannot
   * bind its port never takes a run.
   */
  startWorkersOn?: "ready" | "listen";
  /** How often this process looks at the queue's schedules. */
  scheduleCheckSeconds?: number;
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
    ...(opts.scheduleCheckSeconds ? { scheduleCheckSeconds: opts.scheduleCheckSeconds } : {}),
    onError: (err) => fastify.log.warn({ err }, "run queue problem"),
  });
  await queue.start();
  const executor = new RunExecutor({
    pool: fastify.db,
    engine: fastify.engine,
    bus: fastify.bus,
    settings: opts.settings,
    rollbackPolicy: opts.rollbackPolicy,
    opsEmail: opts.opsEmail ?? null,
    log: fastify.log,
    metrics: fastify.metrics,
    // A teardown, a rollback that removes the database and an approved destructive change back the tenant up first.
    ...(fastify.hasDecorator("backups") ? { backups: fastify.backups } : {}),
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
          if (!(err instanceof AttemptFailedError)) {
            fastify.log.error({ err, runId: job.data.runId }, "run attempt crashed");
            // No attempt follows: the run fails now (its details stay in this log, not in the API).
            if (job.retryCount >= job.retryLimit) {
              await executor.failUnfinished(job.data.runId, job.retryCount + 1, `the last attempt stopped on an unexpected error (details in the service log under run ${job.data.runId})`)
                .catch((e: Error) => fastify.log.error({ err: e, runId: job.data.runId }, "could not record the failed run; the sweep will"));
            }
          }
          throw err;
        }
      });
      fastify.log.info({ concurrency: opts.workerConcurrency }, "taking provisioning runs");
    });
  }
  // Every process sweeps, API-only ones too: one survivor is enough to free a dead worker's tenants.
  const sweeper = new RunSweeper({ pool: fastify.db, queue, executor, log: fastify.log, ...(opts.inspectionLimitMs ? { inspectionLimitMs: opts.inspectionLimitMs } : {}) });
  let sweepTimer: NodeJS.Timeout | null = null;
  fastify.addHook("onReady", async () => {
    const sweep = () => {
      sweeper.sweep().catch((err: Error) => fastify.log.warn({ err }, "could not sweep unfinished runs")).finally(() => {
        if (sweepTimer) sweepTimer = setTimeout(sweep, opts.sweepIntervalMs ?? 5000).unref();
      });
    };
    sweepTimer = setTimeout(sweep, opts.sweepIntervalMs ?? 5000).unref();
  });
  fastify.addHook("onClose", async () => {
    if (sweepTimer) clearTimeout(sweepTimer);
    sweepTimer = null;
    const grace = setTimeout(() => executor.abortAll(), opts.shutdownGraceMs);
    try {
      await queue.stop(opts.shutdownGraceMs + 5000);
    } finally {
      clearTimeout(grace);
    }
  });
}

export default fp(runQueuePlugin, { name: "matih-run-queue", fastify: "5.x", dependencies: ["matih-database", "matih-engine", "matih-progress-bus", "matih-metrics"] });
