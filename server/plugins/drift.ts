import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { activeDriftRun, driftGauges, insertDriftRun, latestDriftRun, setDriftRunJob } from "../db/drift.ts";
import { DriftQueue, type DriftJob } from "../db/drift-queue.ts";
import { withTransaction } from "../db/pool.ts";
import { DriftRecorder } from "../drift/check-recorder.ts";
import { DriftService } from "../drift/drift-service.ts";
import { FleetRunner } from "../drift/fleet-runner.ts";

declare module "fastify" {
  interface FastifyInstance {
    drift: DriftService;
    fleetRunner: FleetRunner;
  }
}

export interface DriftPluginOptions {
  /** The MATIH_DRIFT_* settings (see config.ts). */
  drift: {
    schedule: string | null;
    concurrency: number;
    retrySeconds: number;
    maxSkips: number;
    retentionDays: number;
    opsEmail: string | null;
  };
  settings: PlatformSettings;
  /** Work fleet runs in this process; false for an API-only process. */
  worker: boolean;
  /** When the worker starts taking fleet runs, as for provisioning runs: once ready (default) or once listening. */
  startWorkersOn?: "ready" | "listen";
}

/**
 * Drift detection: the schedule, the queue's worker, the API's service
 * (one-off checks and fleet runs, kept by one recorder) and the metrics. A
 * provisioning run starting in this process makes a drift check of its
 * tenant give way.
 */
async function driftPlugin(fastify: FastifyInstance, opts: DriftPluginOptions): Promise<void> {
  const queue = new DriftQueue(fastify.runQueue.boss);
  await queue.start(opts.drift.schedule);
  const recorder = new DriftRecorder({ pool: fastify.db, bus: fastify.bus, opsEmail: opts.drift.opsEmail, log: fastify.log, metrics: fastify.metrics });
  const runner = new FleetRunner({
    pool: fastify.db,
    engine: fastify.engine,
    settings: opts.settings,
    concurrency: opts.drift.concurrency,
    retrySeconds: opts.drift.retrySeconds,
    maxSkips: opts.drift.maxSkips,
    retentionDays: opts.drift.retentionDays,
    recorder,
    log: fastify.log,
  });
  fastify.executor.beforeEngine.add((tenantId) => runner.yieldTenant(tenantId));
  fastify.metrics.driftGauges = () => driftGauges(fastify.db);
  fastify.decorate("drift", new DriftService({ pool: fastify.db, queue, engine: fastify.engine, tenants: fastify.tenants, recorder }));
  fastify.decorate("fleetRunner", runner);

  /** The run a job works on: its own, or for a scheduled job a new one (or one a dead process left). */
  const runOf = (job: DriftJob) =>
    withTransaction(fastify.db, async (db) => {
      if (job.data.runId) return job.data.runId;
      const latest = await latestDriftRun(db);
      if (latest && latest.status === "SUCCEEDED" && latest.startedAt && new Date(latest.startedAt) > new Date(job.createdOn)) {
        return null; // a run that started after this occurrence came due has covered it
      }
      const created = await insertDriftRun(db, { id: crypto.randomUUID(), trigger: "schedule", requestedBy: "schedule" });
      if (created) {
        await setDriftRunJob(db, created.id, job.id);
        return created.id;
      }
      // A run still open: take it over if nobody has worked it for a minute (its process died), else leave it be.
      const active = await activeDriftRun(db);
      if (active?.worked) fastify.log.info({ driftRunId: active.id }, "a fleet drift run is in progress; this occurrence is covered by it");
      return active && !active.worked ? active.id : null;
    });

  if (opts.worker) {
    fastify.addHook(opts.startWorkersOn === "listen" ? "onListen" : "onReady", async () => {
      await queue.work(async (job) => {
        const runId = await runOf(job);
        if (runId) await runner.execute(runId);
      });
      fastify.log.info({ schedule: opts.drift.schedule ?? "off", concurrency: opts.drift.concurrency }, "taking fleet drift runs");
    });
  }
  // Before the queue stops (it waits for running jobs): a fleet run stops at once and is taken over elsewhere.
  fastify.addHook("preClose", async () => runner.abortAll());
}

export default fp(driftPlugin, { name: "matih-drift", fastify: "5.x", dependencies: ["matih-run-queue", "matih-database", "matih-engine", "matih-metrics", "matih-progress-bus", "matih-tenant-service"] });
