/**
 * Fleet changes through review and rollouts in waves (issue 23). A fleet
 * change proposes a new platform settings version as a merge patch and is
 * answered with its preview on every selected tenant, grouped; approving it
 * makes the version current and starts a rollout, which is read per wave and
 * per tenant, and can be paused, resumed and aborted.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { findRollout, rolloutTenants, type FleetChangeRow, type RolloutRow, type RolloutTenantRow } from "../db/fleet-changes.ts";
import { notFound } from "../domain/errors.ts";
import { countByStatus } from "../domain/fleet-rollout.ts";
import {
  errorResponse, errorResponses, FleetApproveBody, FleetChange, FleetChangeBody, FleetChangeLocation, FleetChangeParams, FleetRollout, RejectBody, RolloutResumeBody,
} from "../../api/schemas.ts";

const iso = (d: Date | string) => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));

export const fleetChangeLocation = (id: string) => `/api/v1/fleet/changes/${id}`;
export const rolloutLocation = (id: string) => `/api/v1/fleet/rollouts/${id}`;

export function fleetChangeJson(c: FleetChangeRow) {
  return {
    id: c.id, status: c.status, settingsPatch: c.patch, changedPaths: c.changedPaths, baseVersion: c.baseVersion, version: c.version,
    selector: c.selector, reason: c.reason, createdBy: c.createdBy, createdAt: iso(c.createdAt), previewedAt: isoOrNull(c.previewedAt),
    previewProgress: c.previewProgress, previewError: c.previewError,
    destructive: c.destructive, preview: c.preview, decidedBy: c.decidedBy, decidedAt: isoOrNull(c.decidedAt), rejectionReason: c.rejectionReason, rolloutId: c.rolloutId,
  };
}

const tenantJson = (t: RolloutTenantRow) => ({
  tenantId: t.tenantId, slug: t.slug, wave: t.wave + 1, status: t.status, attempts: t.attempts, changeId: t.changeId, runId: t.runId, reason: t.reason, updatedAt: iso(t.updatedAt),
});

function waveStatus(r: RolloutRow, wave: number): "pending" | "running" | "paused" | "halted" | "completed" | "aborted" {
  if (wave < r.currentWave || r.status === "COMPLETED") return "completed";
  if (wave > r.currentWave) return r.status === "ABORTED" ? "aborted" : "pending";
  return ({ RUNNING: "running", PAUSED: "paused", HALTED: "halted", ABORTED: "aborted" } as const)[r.status];
}

export function rolloutJson(r: RolloutRow, tenants: readonly RolloutTenantRow[]) {
  const waves = Array.from({ length: r.waveCount }, (_, i) => {
    const members = tenants.filter((t) => t.wave === i);
    return { number: i + 1, status: waveStatus(r, i), counts: countByStatus(members), tenants: members.map(tenantJson) };
  });
  return {
    id: r.id, fleetChangeId: r.changeId, settingsVersion: r.settingsVersion, status: r.status, config: r.config,
    currentWave: Math.min(r.currentWave + 1, r.waveCount), waveCount: r.waveCount, haltedReason: r.haltedReason, createdBy: r.createdBy,
    createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt), finishedAt: isoOrNull(r.finishedAt),
    counts: countByStatus(tenants), waves,
    skipped: tenants.filter((t) => t.status === "SKIPPED").map(tenantJson),
    held: tenants.filter((t) => t.status === "HELD").map(tenantJson),
  };
}

const fleetChangeRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const who = (request: { principal: { name: string } | null }) => request.principal?.name ?? "anonymous";
  const read = { scope: "read" as const };
  const admin = { scope: "admin" as const };
  const rolloutAnswer = async (id: string) => {
    const rollout = await findRollout(fastify.db, id);
    if (!rollout) throw notFound(`rollout "${id}"`);
    return rolloutJson(rollout, await rolloutTenants(fastify.db, id));
  };
  const notFoundChange = errorResponse("No such fleet change");
  const notFoundRollout = errorResponse("No such rollout");

  fastify.post("/api/v1/fleet/changes", {
    config: admin,
    schema: {
      summary: "Propose a platform settings change (a JSON merge patch) and preview it on every selected tenant; the preview groups tenants by identical change",
      description: "The patch is applied to the current version and checked as every version is (400 names each bad path under `settings.`; a secret value or kubernetes.kubeconfig/context is refused). Nothing uses the proposed settings until approval. On the render engine the preview runs in the warm workers before the answer (about 40 ms a tenant): 201, PENDING_REVIEW. On the Pulumi engine each tenant's stack is previewed with `pulumi preview` in a background job, a few at a time: 202, PREVIEWING, with `previewProgress`; read the change until it is PENDING_REVIEW (or PREVIEW_FAILED with `previewError`).",
      body: FleetChangeBody,
      response: {
        201: { ...FleetChange, headers: FleetChangeLocation, description: "Previewed: the change awaits review" },
        202: { ...FleetChange, headers: FleetChangeLocation, description: "Recorded PREVIEWING: its tenants are previewed in the background" },
        400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403],
        409: errorResponse("`not_supported`: the engine can preview no tenant"),
        500: errorResponses[500],
      },
    },
  }, async (request, reply) => {
    const change = await fastify.fleetChanges.propose(request.body, who(request));
    return reply.code(change.status === "PREVIEWING" ? 202 : 201).header("location", fleetChangeLocation(change.id)).send(fleetChangeJson(change));
  });

  fastify.get("/api/v1/fleet/changes/:id", {
    config: read,
    schema: { summary: "A fleet change with its preview", params: FleetChangeParams, response: { 200: FleetChange, 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 404: notFoundChange, 500: errorResponses[500] } },
  }, async (request) => fleetChangeJson(await fastify.fleetChanges.get(request.params.id)));

  fastify.post("/api/v1/fleet/changes/:id/approve", {
    config: admin,
    schema: {
      summary: "Approve a fleet change: its settings become the current version and a rollout in waves starts; answers with the rollout",
      params: FleetChangeParams,
      body: Type.Optional(FleetApproveBody),
      response: {
        202: { ...FleetRollout, headers: { location: { type: "string", description: "The rollout: /api/v1/fleet/rollouts/{id}" } } },
        400: errorResponses[400], 401: errorResponses[401],
        403: errorResponse("The token may only read, or (`same_principal`, MATIH_REQUIRE_SEPARATE_APPROVER) the approver proposed the change"),
        404: notFoundChange,
        409: errorResponse("`change_not_pending` (already approved, rejected or stale), `plan_stale` (another settings version became current after the preview: propose again), `destructive_change` (approve with {\"allowDestructive\": true})"),
        500: errorResponses[500],
      },
    },
  }, async (request, reply) => {
    const rollout = await fastify.fleetChanges.approve(request.params.id, who(request), request.body ?? {});
    return reply.code(202).header("location", rolloutLocation(rollout.id)).send(await rolloutAnswer(rollout.id));
  });

  fastify.post("/api/v1/fleet/changes/:id/reject", {
    config: admin,
    schema: {
      summary: "Reject a fleet change awaiting review",
      params: FleetChangeParams,
      body: Type.Optional(RejectBody),
      response: { 200: { ...FleetChange, description: "The fleet change, now REJECTED" }, 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 404: notFoundChange, 409: errorResponse("`change_not_pending`: the change is not awaiting review"), 500: errorResponses[500] },
    },
  }, async (request) => fleetChangeJson(await fastify.fleetChanges.reject(request.params.id, who(request), request.body?.reason)));

  fastify.get("/api/v1/fleet/rollouts/:id", {
    config: read,
    schema: { summary: "A rollout's progress, per wave and per tenant, with the tenants skipped and held", params: FleetChangeParams, response: { 200: FleetRollout, 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 404: notFoundRollout, 500: errorResponses[500] } },
  }, async (request) => rolloutAnswer(request.params.id));

  const control = (verb: "pause" | "resume" | "abort", summary: string, body?: typeof RolloutResumeBody) => {
    fastify.post(`/api/v1/fleet/rollouts/:id/${verb}`, {
      config: admin,
      schema: {
        summary,
        params: FleetChangeParams,
        ...(body ? { body: Type.Optional(body) } : {}),
        response: { 200: FleetRollout, 400: errorResponses[400], 401: errorResponses[401], 403: errorResponses[403], 404: notFoundRollout, 409: errorResponse("`invalid_transition`: not in a state this applies to"), 500: errorResponses[500] },
      },
    }, async (request) => {
      const { id } = request.params as { id: string };
      if (verb === "pause") await fastify.rollouts.pause(id, who(request));
      else if (verb === "resume") await fastify.rollouts.resume(id, who(request), (request.body as { retryFailed?: boolean } | undefined) ?? {});
      else await fastify.rollouts.abort(id, who(request));
      return rolloutAnswer(id);
    });
  };
  control("pause", "Pause a running rollout: no tenant starts until it is resumed; those under way finish");
  control("resume", "Resume a paused or halted rollout; after a halt the current wave's failed tenants are applied again (retryFailed, default true)", RolloutResumeBody);
  control("abort", "Abort a rollout: no tenant starts any more (the rest are listed as skipped); those under way finish; the version stays current");
};

export default fleetChangeRoutes;
