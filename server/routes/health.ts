import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";

const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() });

/** Liveness, readiness (database and engine) and Prometheus metrics; no token needed. */
const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/healthz", {
    schema: { summary: "Liveness: the process answers", security: [], response: { 200: Type.Object({ status: Type.Literal("ok") }, { description: "Alive" }) } },
  }, async () => ({ status: "ok" as const }));

  fastify.get("/readyz", {
    schema: {
      summary: "Ready when the database answers and the engine is up",
      security: [],
      response: {
        200: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) }, { description: "Ready: every check passes" }),
        503: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) }, { description: "Not ready: a check failed" }),
      },
    },
  }, async (_request, reply) => {
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
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });

  fastify.get("/metrics", {
    schema: {
      summary: "Prometheus metrics (text exposition format)",
      security: [],
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
