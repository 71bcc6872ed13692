import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ApproveBody, ChangeAccepted, RestoreApproved, ChangeBody, ChangeList, ChangeParams, ChangeRequested, ChangesQuery, errorResponse, errorResponses, pendingRunLimitResponse, RejectBody, TenantParams } from "../../api/schemas.ts";
import { Backup, backupJson } from "./backups.ts";
import { changeJson, changeLocation } from "./change-json.ts";
import { runJson, tenantJson } from "./tenants.ts";

/**
 * Changes through review: request (preview runs queued), list, read, approve
 * (the update run applies the saved plan), reject.
 */
const changeRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const changes = fastify.changes;
  const who = (request: { principal: { name: string } | null }) => request.principal?.name ?? "anonymous";
  const read = { scope: "read" as const };
  const admin = { scope: "admin" as const };
  const location = changeLocation;

  fastify.post("/api/v1/tenants/:id/changes", {
    config: admin,
    schema: {
      summary: "Request a change (tier, last phase; {} converges to the recorded spec); its preview runs in the background",
      params: TenantParams,
      body: Type.Optional(ChangeBody),
      response: { 202: ChangeRequested, ...errorResponses, ...pendingRunLimitResponse },
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
      summary: "Approve a reviewed change (an update run applies exactly its saved plan), a teardown or rollback request (its run is queued), or a restore request (restored now)",
      description: "A restore request is performed in the approval: what it replaces is backed up first unless the request said `skipBackup`, the backup's sha256 is checked, and the schema is replaced in one transaction. 200: restored, the change APPLIED. 502: it failed, the change FAILED with the error and the tenant's data as it was.",
      params: ChangeParams,
      body: Type.Optional(ApproveBody),
      response: {
        200: RestoreApproved(Backup), 202: ChangeAccepted, ...errorResponses, ...pendingRunLimitResponse,
        502: errorResponse("A restore request's backup first (`backup_failed`) or its restore (`restore_failed`) failed: the change is FAILED, the tenant's data as it was"),
        409: errorResponse("Refused in the tenant's or the change's current state (`change_expired`, `plan_stale`, `destructive_change`, `run_in_progress`, `change_not_pending`, `request_stale`), or the change would take the fleet past a capacity limit (`capacity_exceeded`: a new pool's shared-server connections, or a public IP, DNS zone or certificate of a phase it adds; `details` gives the limit, its setting, its maximum, the current use and what the change would add)"),
      },
    },
  }, async (request, reply) => {
    const { change, tenant, run, restore } = await changes.approve(request.params.id, request.params.changeId, who(request), { allowDestructive: request.body?.allowDestructive ?? false });
    if (restore) {
      return reply.code(200).send({ change: changeJson(change), tenant: tenantJson(tenant), run: null, restored: backupJson(restore.backup), safetyBackup: restore.safetyBackup ? backupJson(restore.safetyBackup) : null });
    }
    return reply.code(202).header("location", `/api/v1/tenants/${tenant.id}/provisioning/status`).send({ change: changeJson(change), tenant: tenantJson(tenant), run: runJson(run!) });
  });

  fastify.post("/api/v1/tenants/:id/changes/:changeId/reject", {
    config: admin,
    schema: { summary: "Reject a change awaiting review", params: ChangeParams, body: Type.Optional(RejectBody), response: { 200: { ...Type.Ref("Change"), description: "The change, now REJECTED" }, ...errorResponses } },
  }, async (request) => changeJson(await changes.reject(request.params.id, request.params.changeId, who(request), request.body?.reason)));
};

export default changeRoutes;
