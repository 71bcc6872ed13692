/**
 * What the drift tests share: a tenant provisioned to ACTIVE through the API,
 * the render engine's simulated drift, a tenant's drift history, and the
 * drift events in its outbox, each read through the API as a client would.
 */
import type { FastifyInstance } from "fastify";
import { expect } from "vitest";
import { auth, READ_TOKEN, settled, tenantRequest, waitForStatus } from "./service.ts";

/** Requests a free tenant and waits for it to be ACTIVE; its id. */
export async function provisionActive(app: FastifyInstance, slug: string): Promise<string> {
  const created = await app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest(slug) });
  expect(created.statusCode).toBe(202);
  const id = created.json().tenant.id as string;
  expect((await waitForStatus(app, id, settled, 120_000)).status).toBe("ACTIVE");
  return id;
}

/** POST /tenants/{id}/simulated-drift (the render engine's documented command). */
export const simulateDrift = (app: FastifyInstance, tenant: string, change: object, token?: string) =>
  app.inject({ method: "POST", url: `/api/v1/tenants/${tenant}/simulated-drift`, headers: auth(token), payload: change });

/** GET /tenants/{id}/drift with a read token. */
export const driftHistory = async (app: FastifyInstance, tenant: string) =>
  (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenant}/drift`, headers: auth(READ_TOKEN) })).json();

/** The tenant's tenant.drift_* CloudEvents in the outbox, oldest first. */
export async function driftEvents(app: FastifyInstance, tenantId: string): Promise<any[]> {
  const res = await app.inject({ method: "GET", url: `/api/v1/events?tenantId=${tenantId}&limit=500`, headers: auth(READ_TOKEN) });
  return res.json().items.map((i: any) => i.event).filter((e: any) => e.type.startsWith("tenant.drift"));
}

/** Their types only. */
export const driftEventTypes = async (app: FastifyInstance, tenantId: string): Promise<string[]> => (await driftEvents(app, tenantId)).map((e) => e.type);
