import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ServiceMetrics {
  readonly registry: Registry;
  runFinished(kind: string, outcome: string): void;
  phaseFinished(phase: string, outcome: string, seconds: number): void;
  /** Set by the queue plugin: reads the queue's depth when metrics are scraped. */
  queueDepth: (() => Promise<{ queued: number; active: number }>) | null;
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
  const metrics: ServiceMetrics = {
    registry,
    runFinished: (kind, outcome) => runs.inc({ kind, outcome }),
    phaseFinished: (phase, outcome, seconds) => phases.observe({ phase, outcome: outcome.toLowerCase() }, seconds),
    queueDepth: null,
  };
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
