/**
 * A tier change's sub-steps through the service (render engine, real
 * Postgres): the preview names the steps the change will run, and the
 * approved update shows each as a sub-step of phase 2 in the status and the
 * audit log. The service's render engine has no tenant database, so the move
 * and verify steps read "skipped" here; test/automation/tier-change moves
 * real rows between two servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, settled, startService, tenantRequest, waitForStatus, type TestService } from "../support/service.ts";

const postgres = await probePostgres();
type App = TestService["app"];

async function waitForChange(app: App, tenantId: string, changeId: string, done: (c: any) => boolean, timeoutMs = 90_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await app.inject({ method: "GET", url: `/api/v1/tenants/${tenantId}/changes/${changeId}`, headers: auth() })).json();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`change ${changeId} did not settle; last: ${JSON.stringify(last)?.slice(0, 1000)}`);
}

describe.skipIf(!postgres.available)("a tier change's steps in the preview, the status and the audit log", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url);
    await service.app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("free → enterprise: the preview lists expand, move, verify, switch, contract; the update reports each inside phase 2", async () => {
    const created = await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("steps", "free") });
    expect(created.statusCode).toBe(202);
    const tenant = created.json().tenant;
    expect((await waitForStatus(service.app, tenant.id, settled)).status).toBe("ACTIVE");

    const requested = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes`, headers: auth(), payload: { tier: "enterprise", reason: "own server" } });
    expect(requested.statusCode, requested.body).toBe(202);
    const change = await waitForChange(service.app, tenant.id, requested.json().id, (c) => c.status !== "PREVIEWING");
    expect(change.status).toBe("PENDING_REVIEW");
    expect(change.preview.tierChange).toMatchObject({ steps: ["expand", "move", "verify", "switch", "contract"], move: { from: "shared", to: "dedicated" }, data: null });
    expect(change.preview.tierChange.note).toMatch(/no connection to the tenant's database/);

    // Watching live from before the approval: every sub-step arrives on the WebSocket too.
    const { port } = service.app.server.address() as { port: number };
    const live: any[] = [];
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws/provisioning/${tenant.id}?follow=true&access_token=${ADMIN_TOKEN}`);
    socket.on("message", (data) => live.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => { socket.once("open", () => resolve()); socket.once("error", reject); });
    for (let i = 0; i < 100 && !live.some((m) => m.type === "snapshot"); i++) await new Promise((r) => setTimeout(r, 50));

    const approved = await service.app.inject({ method: "POST", url: `/api/v1/tenants/${tenant.id}/changes/${change.id}/approve`, headers: auth(), payload: { allowDestructive: true } });
    expect(approved.statusCode, approved.body).toBe(202);
    const status = await waitForStatus(service.app, tenant.id, (s) => settled(s) && s.run.kind === "update", 180_000);
    expect(status.status).toBe("ACTIVE");
    for (let i = 0; i < 100 && !live.some((m) => m.type === "phase-step" && m.step.step === "contract" && m.step.status === "succeeded"); i++) await new Promise((r) => setTimeout(r, 50));
    socket.close();
    expect(live.filter((m) => m.type === "phase-step").map((m) => [m.phase.number, `${m.step.step}:${m.step.status}`])).toEqual([
      [2, "expand:started"], [2, "expand:succeeded"], [2, "move:skipped"], [2, "verify:skipped"],
      [2, "switch:started"], [2, "switch:succeeded"], [2, "contract:started"], [2, "contract:succeeded"],
    ]);
    const phase2 = status.phases.find((p: any) => p.number === 2);
    expect(phase2.steps.map((s: any) => [s.step, s.status])).toEqual([
      ["expand", "succeeded"], ["move", "skipped"], ["verify", "skipped"], ["switch", "succeeded"], ["contract", "succeeded"],
    ]);
    for (const step of phase2.steps) expect(Number.isNaN(Date.parse(step.at))).toBe(false);
    // Other phases have no sub-steps.
    expect(status.phases.filter((p: any) => p.number !== 2).every((p: any) => p.steps.length === 0)).toBe(true);

    const audit: any[] = (await service.app.inject({ method: "GET", url: `/api/v1/tenants/${tenant.id}/audit?limit=1000`, headers: auth() })).json().items;
    const stepRows = audit.filter((r) => r.entity === "phase" && r.phase === 2 && r.details.step);
    expect(stepRows.map((r) => r.to)).toEqual([
      "expand:started", "expand:succeeded", "move:skipped", "verify:skipped", "switch:started", "switch:succeeded", "contract:started", "contract:succeeded",
    ]);
    expect(stepRows[1].from).toBe("expand:started");
    // The contract comes after the phases that roll workloads onto the new Secret.
    const lastPhaseDone = audit.findIndex((r) => r.entity === "phase" && r.phase === 10 && r.runId === stepRows[0].runId && r.to === "SUCCEEDED");
    expect(lastPhaseDone).toBeGreaterThan(-1);
    expect(audit.indexOf(stepRows.find((r) => r.to === "contract:started"))).toBeGreaterThan(lastPhaseDone);
  }, 300_000);
});
