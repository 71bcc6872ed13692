import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const pg = await probePostgres();

/** A socket whose messages are collected as they come, open until the test or the server closes it. */
function open(url: string) {
  const socket = new WebSocket(url, { headers: auth(READ_TOKEN) });
  const messages: any[] = [];
  let closed: number | null = null;
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  socket.on("close", (code) => (closed = code));
  const ready = new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return { socket, messages, ready, closedWith: () => closed };
}

describe.skipIf(!pg.available)("following a tenant across runs on its WebSocket", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let base: string;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, { MATIH_RENDER_PACE: "0.002" });
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    base = `ws://127.0.0.1:${(service.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  async function approvedChange(tenantId: string, body: object): Promise<string> {
    const change = (await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes`, headers: auth(), payload: body })).json();
    await expect.poll(async () => (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes/${change.id}`, headers: auth() })).json().status, { timeout: 60_000 }).toBe("PENDING_REVIEW");
    const approved = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenantId}/changes/${change.id}/approve`, headers: auth(), payload: {} });
    expect(approved.statusCode, approved.body).toBe(202);
    return approved.json().run.id;
  }

  it("with follow=true, stays open when nothing runs and sends each new run's final, without closing", async () => {
    const tenant = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("follow") })).json().tenant;
    const provisioned = await waitForStatus(service.app, tenant.id, settled);

    // Opened just before approving: the plain socket gets the previous run's final and closes; the following one waits.
    const plain = open(`${base}/ws/provisioning/${tenant.id}`);
    const following = open(`${base}/ws/provisioning/${tenant.id}?follow=true`);
    await Promise.all([plain.ready, following.ready]);
    await expect.poll(() => plain.closedWith()).toBe(1000);
    expect(plain.messages.map((m) => m.type)).toEqual(["snapshot", "final"]);
    expect(plain.messages[1].runId).toBe(provisioned.run.id);

    const first = await approvedChange(tenant.id, { tier: "professional" });
    await expect.poll(() => following.messages.some((m) => m.type === "final" && m.runId === first), { timeout: 60_000 }).toBe(true);
    const second = await approvedChange(tenant.id, { tier: "free" });
    await expect.poll(() => following.messages.some((m) => m.type === "final" && m.runId === second), { timeout: 60_000 }).toBe(true);

    expect(following.closedWith()).toBeNull();
    expect(following.messages[0]).toMatchObject({ type: "snapshot", status: { run: { id: provisioned.run.id } } });
    const finals = following.messages.filter((m) => m.type === "final");
    // No final for the run that had ended before the socket opened; each update's final says SUCCEEDED and ACTIVE.
    expect(finals.some((m) => m.runId === provisioned.run.id)).toBe(false);
    for (const runId of [first, second]) expect(finals.find((m) => m.runId === runId)).toMatchObject({ runStatus: "SUCCEEDED", tenantStatus: "ACTIVE" });
    // Both updates' phase transitions came on the one socket.
    for (const runId of [first, second]) expect(following.messages.filter((m) => m.type === "phase" && m.runId === runId).length).toBeGreaterThan(0);
    following.socket.close();
  }, 180_000);
});
