/**
 * The fleet: every tenant's state in one page (GET /api/v1/fleet) and every
 * tenant's transitions as they happen (/ws/provisioning without an id). The
 * admin dashboard's fleet view is built on these two. The stream is held to
 * the same limits as a tenant's (LiveSocketLimits, one count per token across
 * both) and to the bus's bound on subscribers.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { WebSocket } from "ws";
import { fleetPage } from "../db/fleet.ts";
import type { TenantRow } from "../db/tenants.ts";
import { buildStatusView } from "../domain/status-view.ts";
import { BusFullError, type LiveMessage } from "../live/progress-bus.ts";
import { refuseSocket, WS_CLOSE, type LiveSocketLimits } from "../live/socket-limits.ts";
import { errorResponses, FleetQuery, FleetResponse } from "../../api/schemas.ts";


/**
 * The fleet stream carries transitions only: a tenant's phases and runs, and
 * its drift state when a drift check of it is kept (`drift`: state, since,
 * last checked, no resource values), and fleet rollouts' progress
 * (`rollout`, `rollout-tenant`: statuses and reasons). Per-resource progress
 * stays on the per-tenant stream.
 */
const FLEET_MESSAGE_TYPES = new Set(["phase", "run", "run-finished", "drift", "rollout", "rollout-tenant"]);
/** A client that lets this much pile up unread is cut off (it can reconnect and reload) rather than grow the server's memory. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** How long a tenant that did not become ACTIVE ran before it stopped (failed, or was torn down). */
function stoppedAfterMs(tenant: TenantRow): number | null {
  if (!tenant.provisioningStartedAt || (tenant.status !== "FAILED" && tenant.status !== "DELETED")) return null;
  return new Date(tenant.updatedAt).getTime() - new Date(tenant.provisioningStartedAt).getTime();
}

export interface FleetRoutesOptions {
  /** Shared with the per-tenant stream. */
  limits: LiveSocketLimits;
}

const fleetRoutes: FastifyPluginAsyncTypebox<FleetRoutesOptions> = async (fastify, opts) => {
  fastify.get("/api/v1/fleet", {
    config: { scope: "read" },
    schema: {
      summary: "One page of tenants, newest first, each with its latest run's status, current phase and ten phases; deleted tenants only when asked for by status",
      querystring: FleetQuery,
      response: { 200: FleetResponse, ...errorResponses },
    },
  }, async (request) => {
    const { status, tier, search, drift, behind, limit, offset } = request.query;
    const page = await fleetPage(fastify.db, { ...(status ? { status } : {}), ...(tier ? { tier } : {}), ...(search ? { search } : {}), ...(drift ? { drift } : {}), ...(behind ? { behind } : {}), limit, offset });
    return {
      items: page.entries.map(({ tenant, run, phases, drift: latest, settings }) => {
        const view = buildStatusView(tenant, run, phases);
        return {
          id: tenant.id,
          slug: tenant.slug,
          displayName: tenant.displayName,
          tier: tenant.tier,
          region: tenant.region,
          status: tenant.status,
          run: view.run,
          currentPhase: view.currentPhase,
          progress: view.progress,
          phases: view.phases.map((p) => p.status),
          startedAt: view.startedAt,
          completedAt: view.completedAt,
          durationMs: view.durationMs ?? stoppedAfterMs(tenant),
          error: view.error,
          drift: latest ? { state: latest.state, since: new Date(latest.since).toISOString(), lastCheckedAt: new Date(latest.lastCheckedAt).toISOString() } : null,
          settingsVersion: settings.version,
          settingsAppliedAt: settings.appliedAt ? new Date(settings.appliedAt).toISOString() : null,
        };
      }),
      total: page.total,
      limit,
      offset,
      countsByStatus: page.countsByStatus,
      currentSettingsVersion: page.currentSettingsVersion,
      countsByDrift: page.countsByDrift,
    };
  });

  fastify.get("/ws/provisioning", { websocket: true, config: { scope: "read" }, schema: {
    summary: "WebSocket: live transitions of every tenant (upgrade with GET; Swagger UI cannot open it)",
    description: "Send `Connection: Upgrade` and `Upgrade: websocket` with a read token (Authorization header, or `?access_token=` from browsers, which cannot set headers on a WebSocket). The server sends `subscribed`, then one message per phase or run transition of any tenant, and when a run finishes. A change's preview run (kind `preview`) sends its start and end only. When a drift check of a tenant is kept (a fleet run's or a one-off check's), a `drift` message carries the tenant's new drift state: `{type: \"drift\", tenantId, checkId, driftRunId, state, since, lastCheckedAt}`, never resource values. A fleet rollout sends `{type: \"rollout\", tenantId: \"fleet-rollout:<rolloutId>\", rolloutId, status, currentWave, waveCount, haltedReason}` when it starts, moves to a wave, halts, completes, pauses, resumes or is aborted, and `{type: \"rollout-tenant\", tenantId, rolloutId, slug, wave, status, reason}` as each tenant's part moves. It closes the socket with 1013 when the token holds too many live sockets or the client reads too slowly, 1011 when it misses a ping, and 1001 when the socket is older than the maximum age; reconnect and reload.",
    querystring: Type.Object({ access_token: Type.Optional(Type.String({ description: "For browsers only; never logged" })) }),
    response: { 101: { description: "Switching to the WebSocket protocol", type: "null" }, 401: errorResponses[401] },
  } }, (socket: WebSocket, request) => {
    if (!opts.limits.admit(socket, request.principal!.tokenId)) return;
    // A change's preview run walks the phases without changing the tenant: its start and end are
    // sent (the change's status moves), its phase messages are not, since they are no transition of the tenant.
    const previewRuns = new Set<unknown>();
    let unsubscribe: () => void;
    try {
      unsubscribe = fastify.bus.subscribeAll((message: LiveMessage) => {
        if (message.type === "run" && message.kind === "preview") previewRuns.add(message.runId);
        if (message.type === "phase" && previewRuns.has(message.runId)) return;
        if (message.type === "run-finished") previewRuns.delete(message.runId);
        if (!FLEET_MESSAGE_TYPES.has(message.type) || socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(WS_CLOSE.tooMany, "too slow; reconnect and reload");
          return;
        }
        socket.send(JSON.stringify(message));
      });
    } catch (error) {
      if (!(error instanceof BusFullError)) throw error;
      refuseSocket(socket, "the service has as many live connections as it serves; try again later", "service busy");
      return;
    }
    socket.on("close", unsubscribe);
    socket.on("error", unsubscribe);
    // Tells the client it is subscribed: whatever it loads after this, it will not miss a later transition.
    socket.send(JSON.stringify({ type: "subscribed" }));
  });
};

export default fleetRoutes;
