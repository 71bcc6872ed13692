import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply } from "fastify";
import { Type } from "typebox";
import type { TenantRow } from "../db/tenants.ts";
import { tierProfile, type Tier } from "../../model/tiers.ts";
import type { ActionOutcome } from "../domain/change-service.ts";
import { ApiError } from "../domain/errors.ts";
import { actionRequestedJson, changeLocation } from "./change-json.ts";
import {
  AuditQuery, AuditResponse, CreateTenantBody, DriftResponse, errorResponse, errorResponses, listErrorResponses, ListQuery, pendingRunLimitResponse, PreviewBody, PreviewQuery,
  ActionAccepted, DeleteTenantBody, DeleteTenantQuery, PreviewResponse, ProvisioningStatus, RollbackBody, RunAccepted, TenantList, TenantParams,
} from "../../api/schemas.ts";

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,200}$/;

/** What the tenant's tier gives it, so that a tier change shows its effect on the tenant itself. */
export const profileJson = (tier: Tier) => {
  const p = tierProfile(tier);
  return {
    quota: p.quota,
    databaseStrategy: p.database.strategy,
    connectionPool: p.database.connectionPool !== null,
    dedicatedServer: p.database.dedicatedServer !== null,
    replicas: { coreServices: p.coreServices.replicas, dataServices: p.dataServices.replicas, prometheus: p.monitoring.prometheusReplicas, collector: p.observability.collectorReplicas },
  };
};

export const tenantJson = (t: TenantRow) => ({
  ...t,
  profile: profileJson(t.tier),
  provisioningStartedAt: t.provisioningStartedAt ? new Date(t.provisioningStartedAt).toISOString() : null,
  provisioningCompletedAt: t.provisioningCompletedAt ? new Date(t.provisioningCompletedAt).toISOString() : null,
  requestedAt: new Date(t.requestedAt).toISOString(),
  createdAt: new Date(t.createdAt).toISOString(),
  updatedAt: new Date(t.updatedAt).toISOString(),
});

export const runJson = (r: { id: string; kind: string; status: string; targetPhase: number }) => ({ id: r.id, kind: r.kind, status: r.status, targetPhase: r.targetPhase });

/** 202 for a queued run (create, retry, rollback, delete alike): `{tenant, run}`, and the status to watch as Location. */
function accepted(reply: FastifyReply, { tenant, run }: { tenant: TenantRow; run: { id: string; kind: string; status: string; targetPhase: number } }) {
  return reply.code(202).header("location", `/api/v1/tenants/${tenant.id}/provisioning/status`).send({ tenant: tenantJson(tenant), run: runJson(run) });
}

/** 202 for a teardown or rollback: its run queued, or (four eyes) the request awaiting another admin, with the request as Location. */
function actionAccepted(reply: FastifyReply, outcome: ActionOutcome) {
  if ("queued" in outcome) return accepted(reply, outcome.queued);
  const { change, approvers } = outcome.pending;
  return reply.code(202).header("location", changeLocation(change)).send(actionRequestedJson(change, approvers));
}

const emptyBody = "Takes no body; an empty one with any Content-Type is accepted.";
const fourEyes = "With MATIH_REQUIRE_SEPARATE_APPROVER on, this is one admin's irreversible act: it is recorded as a request (a change of this kind) that another admin approves through the change routes, and the 202 answers the request and who may approve it; asking again while it waits answers the same request.";

/** The tenant API: create, read, watch, retry, preview, roll back, tear down, drift-check, audit. */
const tenantRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const tenants = fastify.tenants;
  const who = (request: { principal: { name: string } | null }) => request.principal?.name ?? "anonymous";
  const read = { scope: "read" as const };
  const admin = { scope: "admin" as const };

  fastify.post("/api/v1/tenants", {
    config: admin,
    schema: {
      summary: "Request a tenant; provisioning runs in the background",
      description: "Answers 202 with the tenant and its provisioning run. With an Idempotency-Key, the same request (compared by value, key order aside) answers the first response again.",
      headers: Type.Object({ "idempotency-key": Type.Optional(Type.String({ description: "1 to 200 letters, digits, dots, dashes, underscores or colons" })) }),
      body: CreateTenantBody,
      response: {
        202: RunAccepted,
        409: errorResponse("The slug belongs to another live tenant (`slug_taken`), or the principal (MATIH_MAX_TENANTS_PER_PRINCIPAL) or the service (MATIH_MAX_TENANTS) has as many live tenants as allowed (`tenant_limit_reached`; `details` gives the limit, its maximum and the current count), or the tenant would take the fleet past a capacity limit (`capacity_exceeded`: certificates per week, public IPs, load-balancer frontends, DNS zones or shared-server connections; `details` gives the limit, its setting, its maximum, the current use and what the tenant would add)"),
        422: errorResponse("The Idempotency-Key was used with a different request"),
        ...pendingRunLimitResponse,
        ...listErrorResponses,
      },
    },
    // The body is checked once, in the handler, by the tenant spec's own rules
    // against the current platform settings version (a read a synchronous
    // validator cannot make), so that every problem (schema-like and semantic)
    // is answered together in plain words. The schema above documents it.
    validatorCompiler: () => (data: unknown) => ({ value: data }),
  }, async (request, reply) => {
    const input = await tenants.checkRequestNow(request.body);
    const key = request.headers["idempotency-key"];
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new ApiError(400, "invalid_request", "Idempotency-Key must be 1 to 200 letters, digits, dots, dashes, underscores or colons");
    }
    const { tenant, run, replayed } = await tenants.create(input, who(request), key === undefined ? undefined : { key, tokenId: request.principal!.tokenId });
    if (replayed) reply.header("idempotent-replayed", "true");
    return accepted(reply, { tenant, run });
  });

  fastify.get("/api/v1/tenants", {
    config: read,
    schema: { summary: "List tenants, newest last", querystring: ListQuery, response: { 200: { ...TenantList, description: "A page of tenants" }, ...listErrorResponses } },
  }, async (request) => {
    const { items, total } = await tenants.list(request.query);
    return { items: items.map(tenantJson), total, limit: request.query.limit, offset: request.query.offset };
  });

  fastify.get("/api/v1/tenants/:id", {
    config: read,
    schema: { summary: "A tenant by id or slug", params: TenantParams, response: { 200: { ...Type.Ref("Tenant"), description: "The tenant" }, ...errorResponses } },
  }, async (request) => tenantJson(await tenants.get(request.params.id)));

  fastify.get("/api/v1/tenants/:id/provisioning/status", {
    config: read,
    schema: { summary: "Provisioning status with every phase in order", params: TenantParams, response: { 200: { ...Type.Ref("ProvisioningStatus"), description: "The tenant's status and its latest run" }, ...errorResponses } },
  }, async (request, reply) => {
    // The answer comes as text, already serialised by this route's own 200 serialiser, so that it can be kept and sent again.
    const serialize = reply.getSerializationFunction("200") as (view: unknown) => string;
    return reply.type("application/json; charset=utf-8").send(await tenants.statusText(request.params.id, serialize));
  });

  fastify.post("/api/v1/tenants/:id/provisioning/retry", {
    config: admin,
    schema: { summary: "Retry a FAILED tenant; finished phases stay finished", description: emptyBody, params: TenantParams, response: { 202: RunAccepted, ...errorResponses, ...pendingRunLimitResponse } },
  }, async (request, reply) => {
    return accepted(reply, await tenants.retry(request.params.id, who(request)));
  });

  fastify.post("/api/v1/tenants/:id/rollback", {
    config: admin,
    schema: {
      summary: "Roll a FAILED tenant back to the end of a phase",
      description: `A rollback deletes the later phases. ${fourEyes} Only a rollback that deletes a stateful phase (the database, phase 2, or the DNS zone, phase 7) needs that approval.`,
      params: TenantParams, body: RollbackBody, response: { 202: ActionAccepted, ...errorResponses, ...pendingRunLimitResponse },
    },
  }, async (request, reply) => {
    return actionAccepted(reply, await fastify.changes.requestAction(request.params.id, { kind: "rollback", targetPhase: request.body.targetPhase, ...(request.body.skipBackup ? { skipBackup: true } : {}) }, who(request)));
  });

  fastify.delete("/api/v1/tenants/:id", {
    config: { ...admin, optionalBody: true },
    schema: {
      summary: "Tear a tenant down; phases are undone in reverse order",
      description: `An ACTIVE tenant is deleted only with its slug as confirmation: \`?confirm=<slug>\` or \`{"confirm": "<slug>"}\` (400 \`confirmation_required\` without it or with another). The teardown run first backs the tenant's database up (see GET /api/v1/tenants/{id}/backups) and fails, deleting nothing, when it cannot; \`skipBackup\` (query or body) goes on without, and the audit log records who asked. The body is optional. Never refused by the pending-run limits, so that a principal at its limit can still clean up. ${fourEyes} A DEPROVISIONING tenant (its approved teardown failed) is torn down again at once.`,
      "x-body-optional": true,
      params: TenantParams, querystring: DeleteTenantQuery, body: DeleteTenantBody,
      response: { 202: ActionAccepted, ...errorResponses, 400: errorResponse("The request is invalid, or an ACTIVE tenant's deletion lacks its slug as confirmation (`confirmation_required`)") },
    },
  }, async (request, reply) => {
    const body = request.body ?? {};
    const { confirm: inQuery, skipBackup: skipInQuery } = request.query;
    if (inQuery !== undefined && body.confirm !== undefined && inQuery !== body.confirm) {
      throw new ApiError(400, "invalid_request", "confirm is given twice, in the query and the body, with different values; give it once");
    }
    const confirm = body.confirm ?? inQuery;
    const skipBackup = body.skipBackup ?? skipInQuery ?? false;
    return actionAccepted(reply, await fastify.changes.requestAction(request.params.id, { kind: "teardown", ...(confirm !== undefined ? { confirm } : {}), ...(skipBackup ? { skipBackup: true } : {}) }, who(request)));
  });

  fastify.post("/api/v1/tenants/:id/preview", {
    config: { ...admin, optionalBody: true },
    schema: {
      summary: "What an update would change, per phase and resource; changes nothing",
      description: "The body is optional. Only resources that would change are listed unless `include=same`. While a run is in progress the answer is 409 run_in_progress at once: a preview then would wait for the run's lock.",
      "x-body-optional": true,
      params: TenantParams,
      querystring: PreviewQuery,
      body: PreviewBody,
      response: { 200: PreviewResponse, 502: errorResponse("The engine could not compute the preview"), ...errorResponses },
    },
  }, async (request) => {
    const body = request.body ?? {};
    const result = await tenants.preview(request.params.id, { ...(body.lastPhase ? { lastPhase: body.lastPhase } : {}), ...(body.tier ? { tier: body.tier } : {}) }, who(request));
    const includeSame = request.query.include === "same";
    const phases = new Map<number, { number: number; name: string; changes: object[] }>();
    for (const c of result.changes) {
      if (c.op === "same" && !includeSame) continue;
      const key = c.phase?.number ?? 0;
      if (!phases.has(key)) phases.set(key, { number: key, name: c.phase?.name ?? "(outside the phases)", changes: [] });
      // With each path's value before and after, as a change's preview has them (secrets read "[secret]").
      const diffs = (c.diffs ?? c.changedPaths.map((path) => ({ path }))).map((d) => ({ ...d }));
      phases.get(key)!.changes.push({ urn: c.urn, type: c.type, op: c.op, changedPaths: [...c.changedPaths], replaceReasons: [...c.replaceReasons], diffs });
    }
    return {
      engine: result.engine,
      lastPhase: result.lastPhase,
      changeSummary: result.changeSummary,
      durationMs: result.durationMs,
      included: includeSame ? "all" as const : "changes" as const,
      phases: [...phases.values()].sort((a, b) => a.number - b.number),
    };
  });

  fastify.post("/api/v1/tenants/:id/drift-check", {
    config: admin,
    schema: {
      summary: "Check one tenant for drift now: resources whose real state differs from the recorded one; changes no infrastructure",
      description: `${emptyBody} An ACTIVE tenant's check is kept in its drift history like a fleet run's (driftRunId null): its drift state moves, \`tenant.drift_detected\` or \`tenant.drift_resolved\` is sent (and the operators mailed) when that state changes, and the fleet stream gets a \`drift\` message. A check of a tenant that is not ACTIVE, or one during which a run started, is answered but not kept (\`recorded: false\` with the reason). A check the engine could not make answers the engine's error; for an ACTIVE tenant it is kept as CHECK_FAILED, and the error's \`details.recorded\` says so.`,
      params: TenantParams,
      response: {
        200: DriftResponse,
        ...errorResponses,
        404: errorResponse("No such tenant, or it has no stack to compare with (`stack_not_found`; `details.recorded` says whether the failed check was kept)"),
        502: errorResponse("The engine could not check; `details.recorded` says whether the failed check was kept as CHECK_FAILED"),
      },
    },
  }, async (request) => {
    const { result, outcome } = await fastify.drift.checkNow(request.params.id, who(request));
    return {
      engine: result.engine,
      drifted: [...result.drifted],
      durationMs: result.durationMs,
      state: result.drifted.length > 0 ? "DRIFTED" as const : "IN_SYNC" as const,
      recorded: outcome.recorded,
      checkId: outcome.recorded ? outcome.check.id : null,
      notRecordedReason: outcome.recorded ? null : outcome.reason,
    };
  });

  fastify.get("/api/v1/tenants/:id/audit", {
    config: read,
    schema: { summary: "The tenant's audit log, oldest first", params: TenantParams, querystring: AuditQuery, response: { 200: { ...AuditResponse, description: "Audit rows after `after`" }, ...errorResponses } },
  }, async (request) => {
    const rows = await tenants.audit(request.params.id, { afterId: request.query.after, limit: request.query.limit });
    return { items: rows.map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })) };
  });
};

export default tenantRoutes;
