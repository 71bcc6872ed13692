import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ServiceMetrics {
  readonly registry: Registry;
  runFinished(kind: string, outcome: string): void;
  phaseFinished(phase: string, outcome: string, seconds: number): void;
  /** Set by the queue plugin: reads the queue's depth when metrics are scraped. */
  queueDepth: (() => Promise<{ queued: number; active: number }>) | null;
  /** One tenant's drift check finished in this process. */
  driftChecked(state: string, seconds: number): void;
  /** Set by the drift plugin: reads the fleet's drift from the database when metrics are scraped, so every process answers alike. */
  driftGauges: (() => Promise<{ drifted: number; lastSuccess: Date | null }>) | null;
  /** Set by the engine plugin: the warm worker pool's counts when metrics are scraped. */
  workerStats: (() => { starting: number; idle: number; busy: number } | null) | null;
  /** How long an operation waited for a free, warm worker. */
  workerWait(seconds: number): void;
}

declare module "fastify" {
  interface FastifyInstance {
    metrics: ServiceMetrics;
  }
}

async function metricsPlugin(fastify: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "matih_" });
  const runs = new Counter({ name: "matih_runs_total", help: "Finished provisioning runs by kind and outcome", labelNames: ["kind", "outcome"], registers: [registry] });
  const phases = new Histogram({
    name: "matih_phase_duration_seconds",
    help: "How long phases took, by phase and outcome",
    labelNames: ["phase", "outcome"],
    buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const driftChecks = new Histogram({
    name: "matih_drift_check_duration_seconds",
    help: "How long one tenant's drift check (a refresh preview) took, by result",
    labelNames: ["state"],
    buckets: [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const workerWait = new Histogram({
    name: "matih_operation_wait_seconds",
    help: "How long operations waited for a free, warm worker process",
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [registry],
  });
  const metrics: ServiceMetrics = {
    registry,
    runFinished: (kind, outcome) => runs.inc({ kind, outcome }),
    phaseFinished: (phase, outcome, seconds) => phases.observe({ phase, outcome: outcome.toLowerCase() }, seconds),
    queueDepth: null,
    driftChecked: (state, seconds) => driftChecks.observe({ state: state.toLowerCase() }, seconds),
    driftGauges: null,
    workerStats: null,
    workerWait: (seconds) => workerWait.observe(seconds),
  };
  const driftGauge = (name: string, help: string, read: (g: { drifted: number; lastSuccess: Date | null }) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const gauges = metrics.driftGauges ? await metrics.driftGauges().catch(() => null) : null;
        const value = gauges ? read(gauges) : null;
        if (value !== null) this.set(value);
      },
    });
  driftGauge("matih_tenants_drifted", "ACTIVE tenants whose last conclusive drift check found drift", (g) => g.drifted);
  driftGauge("matih_drift_run_last_success_timestamp", "When the last fleet drift run finished successfully (Unix seconds)", (g) => (g.lastSuccess ? new Date(g.lastSuccess).getTime() / 1000 : null));
  new Gauge({
    name: "matih_workers",
    help: "Warm worker processes by state (starting, idle, busy)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const stats = metrics.workerStats?.();
      if (!stats) return;
      for (const state of ["starting", "idle", "busy"] as const) this.set({ state }, stats[state]);
    },
  });
  new Gauge({
    name: "matih_queue_depth",
    help: "Runs waiting in and taken from the durable queue",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      if (!metrics.queueDepth) return;
      const depth = await metrics.queueDepth().catch(() => null);
      if (!depth) return;
      this.set({ state: "queued" }, depth.queued);
      this.set({ state: "active" }, depth.active);
    },
  });
  fastify.decorate("metrics", metrics);
}

export default fp(metricsPlugin, { name: "matih-metrics", fastify: "5.x" });
