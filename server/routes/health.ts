import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() });

const Readiness = Type.Object({ ready: Type.Boolean(), checks: Type.Optional(Type.Record(Type.String(), Check)) });

/**
 * Liveness and readiness need no token, so that probes can reach them, and
 * say no more than ok or not: the checks' details (data directory, brokers,
 * mail host, last delivery errors) need a read token. Metrics (queue depth,
 * backlog) need a read token too.
 */
const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/healthz", {
    schema: { summary: "Liveness: the process answers", security: [], response: { 200: Type.Object({ status: Type.Literal("ok") }, { description: "Alive" }) } },
  }, async () => ({ status: "ok" as const }));

  fastify.get("/readyz", {
    config: { optionalAuth: true },
    schema: {
      summary: "Ready when the database answers and the engine is up; the checks' details with a read token",
      security: [],
      response: {
        200: Type.Object(Readiness.properties, { description: "Ready: every check passes (details only with a read token)" }),
        503: Type.Object(Readiness.properties, { description: "Not ready: a check failed (details only with a read token)" }),
      },
    },
  }, async (request, reply) => {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await fastify.db.query("SELECT 1");
      checks.database = { ok: true, detail: "answers" };
    } catch {
      checks.database = { ok: false, detail: "does not answer" };
    }
    checks.engine = {
      ok: true,
      detail: fastify.engine.changesInfrastructure ? `${fastify.engine.kind}: changes real infrastructure` : `${fastify.engine.kind}: offline, no infrastructure is changed`,
    };
    for (const [name, check] of Object.entries(fastify.readinessChecks)) checks[name] = await check();
    const ready = Object.values(checks).every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send(request.principal ? { ready, checks } : { ready });
  });

  fastify.get("/metrics", {
    config: { scope: "read" },
    schema: {
      summary: "Prometheus metrics (text exposition format); needs a read token",
      produces: ["text/plain"],
      response: { 200: Type.String({ description: "Metrics in the Prometheus text format" }) },
    },
  }, async (_request, reply) => {
    reply.header("content-type", fastify.metrics.registry.contentType);
    return fastify.metrics.registry.metrics();
  });
};

declare module "fastify" {
  interface FastifyInstance {
    /** Extra readiness checks other plugins add (Kafka, say). */
    readinessChecks: Record<string, () => Promise<{ ok: boolean; detail: string }>>;
  }
}

export default healthRoutes;
