/**
 * /ws/provisioning/{id}: on connect the current status, then every phase
 * transition and resource progress event as it happens, and a final message
 * when the run ends. Messages reach every subscriber whichever process runs
 * the job (see ProgressBus).
 *
 * With `?follow=true` the socket stays open across runs: a `final` for each
 * run that ends, none for a run that had ended before the socket opened, so
 * that a client can open it and then start a run (approve a change, retry)
 * without the previous run's `final` closing it first.
 *
 * Bounded like every live socket (LiveSocketLimits: sockets per token,
 * pings, a maximum age); the bus refuses subscribers beyond its own limit.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { WebSocket } from "ws";
import { ApiError } from "../domain/errors.ts";
import { BusFullError, type LiveMessage } from "../live/progress-bus.ts";
import { refuseSocket, type LiveSocketLimits } from "../live/socket-limits.ts";
import { Type } from "typebox";
import { errorResponses, TenantParams } from "../../api/schemas.ts";

const FINISHED_RUN = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export interface LiveRoutesOptions {
  /** Shared with the fleet stream: one count per token across both. */
  limits: LiveSocketLimits;
}

const liveRoutes: FastifyPluginAsyncTypebox<LiveRoutesOptions> = async (fastify, opts) => {
  fastify.get("/ws/provisioning/:id", { websocket: true, config: { scope: "read" }, schema: {
    summary: "WebSocket: live progress of one tenant (upgrade with GET; Swagger UI cannot open it)",
    description: "Send `Connection: Upgrade` and `Upgrade: websocket` with a read token (Authorization header, or `?access_token=` from browsers, which cannot set headers on a WebSocket). The server sends a snapshot of the provisioning status, then one message per phase or run transition, then a final message when the run finishes, and closes; with nothing running, the snapshot and a final at once. With `follow=true` it stays open across runs instead: no final for a run that had ended before the socket opened, a final (with its `runId`) for each run that ends while it is open, and the socket is left open for the next run. Open a following socket before approving a change or retrying, so that none of the new run's messages is missed. A `drift` message (as on the fleet stream) may come too, when a drift check of the tenant is kept meanwhile.",
    params: TenantParams,
    querystring: Type.Object({
      access_token: Type.Optional(Type.String({ description: "For browsers only; never logged" })),
      follow: Type.Optional(Type.Boolean({ default: false, description: "Stay open across runs: a final for each run that ends while open, none for one that ended before" })),
    }),
    response: { 101: { description: "Switching to the WebSocket protocol", type: "null" }, 401: errorResponses[401], 404: errorResponses[404] },
  } }, async (socket: WebSocket, request) => {
    const send = (message: unknown) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
    };
    if (!opts.limits.admit(socket, request.principal!.tokenId)) return;
    let snapshotSent = false;
    const early: LiveMessage[] = [];
    let tenantId: string;
    try {
      tenantId = (await fastify.tenants.get(request.params.id)).id;
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError(500, "internal_error", "could not load the tenant");
      send({ type: "error", code: e.code, message: e.message });
      socket.close(e.statusCode === 404 ? 4404 : 1011, e.code);
      return;
    }
    const follow = request.query.follow === true;
    const finish = (message: LiveMessage) => {
      send({ type: "final", tenantId, runId: message.runId, runStatus: message.status, tenantStatus: message.tenantStatus, error: message.error ?? null });
      if (!follow) socket.close(1000, "run finished");
    };
    // Subscribe before reading the snapshot so that nothing falls between the two.
    let unsubscribe: () => void;
    try {
      unsubscribe = fastify.bus.subscribe(tenantId, (message) => {
        if (!snapshotSent) {
          early.push(message);
          return;
        }
        send(message);
        if (message.type === "run-finished") finish(message);
      });
    } catch (error) {
      if (!(error instanceof BusFullError)) throw error;
      refuseSocket(socket, "the service has as many live connections as it serves; try again later", "service busy");
      return;
    }
    socket.on("close", unsubscribe);
    socket.on("error", unsubscribe);
    const status = await fastify.tenants.status(tenantId);
    send({ type: "snapshot", status });
    snapshotSent = true;
    for (const message of early) send(message);
    for (const message of early.filter((m) => m.type === "run-finished")) {
      finish(message);
      if (!follow) return;
    }
    // Nothing is running: the snapshot is the whole story (unless following: the next run's story is to come).
    if (!follow && (!status.run || FINISHED_RUN.has(status.run.status))) {
      finish({ type: "run-finished", tenantId, runId: status.run?.id ?? null, status: status.run?.status ?? null, tenantStatus: status.status, error: status.error });
    }
  });
};

export default liveRoutes;
