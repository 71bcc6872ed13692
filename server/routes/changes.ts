import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { ChangeRow } from "../db/changes.ts";
import { ApproveBody, ChangeAccepted, ChangeBody, ChangeList, ChangeParams, ChangeRequested, ChangesQuery, errorResponses, RejectBody, TenantParams } from "./schemas.ts";
import { runJson, tenantJson } from "./tenants.ts";

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const changeJson = (c: ChangeRow) => ({
  id: c.id,
  tenantId: c.tenantId,
  status: c.status,
  requested: c.requested,
  target: { tier: c.targetTier, lastPhase: c.targetPhase },
  createdBy: c.createdBy,
  createdAt: new Date(c.createdAt).toISOString(),
  expiresAt: new Date(c.expiresAt).toISOString(),
  previewedAt: iso(c.previewedAt),
  preview: c.preview,
  error: c.error,
  decidedBy: c.decidedBy,
  decidedAt: iso(c.decidedAt),
  allowDestructive: c.allowDestructive,
  appliedAt: iso(c.appliedAt),
});

/**
 * Changes through review: request (preview runs queued), list, read, approve
 * (the update run applies the saved plan), reject.
 */
const changeRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const changes = fastify.changes;
  const who = (request: { principal: { name: string } | null }) => request.principal?.name ?? "anonymous";
  const read = { scope: "read" as const };
  const admin = { scope: "admin" as const };
  const location = (c: ChangeRow) => `/api/v1/tenants/${c.tenantId}/changes/${c.id}`;

  fastify.post("/api/v1/tenants/:id/changes", {
    config: admin,
    schema: {
      summary: "Request a change (tier, last phase; {} converges to the recorded spec); its preview runs in the background",
      params: TenantParams,
      body: Type.Optional(ChangeBody),
      response: { 202: ChangeRequested, ...errorResponses },
    },
  }, async (request, reply) => {
    const { change } = await changes.request(request.params.id, request.body ?? {}, who(request));
    return reply.code(202).header("location", location(change)).send(changeJson(change));
  });

  fastify.get("/api/v1/tenants/:id/changes", {
    config: read,
    schema: { summary: "The tenant's changes, newest first", params: TenantParams, querystring: ChangesQuery, response: { 200: ChangeList, ...errorResponses } },
  }, async (request) => ({ items: (await changes.list(request.params.id, request.query)).map(changeJson) }));

  fastify.get("/api/v1/tenants/:id/changes/:changeId", {
    config: read,
    schema: { summary: "A change with its preview", params: ChangeParams, response: { 200: { ...Type.Ref("Change"), description: "The change, with its preview once it has one" }, ...errorResponses } },
  }, async (request) => changeJson(await changes.get(request.params.id, request.params.changeId)));

  fastify.post("/api/v1/tenants/:id/changes/:changeId/approve", {
    config: admin,
    schema: {
      summary: "Approve a reviewed change; an update run applies exactly its saved plan",
      params: ChangeParams,
      body: Type.Optional(ApproveBody),
      response: { 202: ChangeAccepted, ...errorResponses },
    },
  }, async (request, reply) => {
    const { change, tenant, run } = await changes.approve(request.params.id, request.params.changeId, who(request), { allowDestructive: request.body?.allowDestructive ?? false });
    return reply.code(202).header("location", `/api/v1/tenants/${tenant.id}/provisioning/status`).send({ change: changeJson(change), tenant: tenantJson(tenant), run: runJson(run) });
  });

  fastify.post("/api/v1/tenants/:id/changes/:changeId/reject", {
    config: admin,
    schema: { summary: "Reject a change awaiting review", params: ChangeParams, body: Type.Optional(RejectBody), response: { 200: { ...Type.Ref("Change"), description: "The change, now REJECTED" }, ...errorResponses } },
  }, async (request) => changeJson(await changes.reject(request.params.id, request.params.changeId, who(request), request.body?.reason)));
};

export default changeRoutes;
