import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { SimulatedDrift } from "../../automation/index.ts";
import {
  DriftHistory, DriftHistoryQuery, DriftRun, DriftRunAccepted, DriftRunParams, DriftSummary, DriftSummaryQuery, errorResponse, errorResponses, listErrorResponses,
  SimulatedDriftBody, SimulatedDriftResponse, TenantParams,
} from "../../api/schemas.ts";

/** Fleet drift detection: start a run, follow it, the fleet summary, a tenant's history. */
const driftRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const drift = fastify.drift;

  fastify.post("/api/v1/drift/runs", {
    config: { scope: "admin" },
    schema: {
      summary: "Check every ACTIVE tenant for drift now; while a fleet run is queued or running, answers with its id",
      response: { 202: { ...DriftRunAccepted, description: "The fleet run was queued (or one already is): follow it at the Location" }, ...listErrorResponses },
    },
  }, async (request, reply) => {
    const { id } = await drift.startRun(request.principal?.name ?? "anonymous");
    return reply.code(202).header("location", `/api/v1/drift/runs/${id}`).send({ id });
  });

  fastify.get("/api/v1/drift/runs/:id", {
    config: { scope: "read" },
    schema: { summary: "A fleet drift run's progress", params: DriftRunParams, response: { 200: { ...DriftRun, description: "The fleet run and its counts so far" }, ...errorResponses, 404: errorResponse("No such fleet run") } },
  }, async (request) => drift.run(request.params.id));

  fastify.get("/api/v1/drift", {
    config: { scope: "read" },
    schema: { summary: "The fleet's drift: last run, counts, each ACTIVE tenant's latest state and since when", querystring: DriftSummaryQuery, response: { 200: { ...DriftSummary, description: "The fleet's drift" }, ...listErrorResponses } },
  }, async (request) => drift.summary(request.query));

  fastify.get("/api/v1/tenants/:id/drift", {
    config: { scope: "read" },
    schema: { summary: "A tenant's drift checks, newest first, with drifted resources and their values", params: TenantParams, querystring: DriftHistoryQuery, response: { 200: { ...DriftHistory, description: "The tenant's drift checks" }, ...errorResponses } },
  }, async (request) => drift.history(request.params.id, request.query));

  fastify.post("/api/v1/tenants/:id/simulated-drift", {
    config: { scope: "admin" },
    schema: {
      summary: "Render engine only: edit a property or delete a resource in the tenant's simulated actual state (or reset it), as someone working outside the service would",
      params: TenantParams,
      body: SimulatedDriftBody,
      response: {
        200: { ...SimulatedDriftResponse, description: "The simulated actual state was changed" },
        ...errorResponses,
        409: errorResponse("Not the render engine, or the tenant is not ACTIVE"),
      },
    },
  }, async (request) => drift.simulate(request.params.id, request.body as SimulatedDrift));
};

export default driftRoutes;
