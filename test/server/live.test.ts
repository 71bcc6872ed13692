import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PHASES } from "../../model/phases.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, startService, tenantRequest, type TestService } from "../support/service.ts";

const pg = await probePostgres();

/** Every message a WebSocket client receives until the server closes it. */
function collect(url: string, headers: Record<string, string> = {}): Promise<{ messages: any[]; code: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const messages: any[] = [];
    socket.on("message", (data) => messages.push(JSON.parse(String(data))));
    socket.on("close", (code) => resolve({ messages, code }));
    socket.on("error", reject);
  });
}

describe.skipIf(!pg.available)("live progress over WebSocket", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let api: TestService;
  let worker: TestService;
  let base: string;

  beforeAll(async () => {
    db = await freshDatabase();
    // Two processes' worth of service on one database: the one clients talk to runs no jobs.
    api = await startService(db.url, { MATIH_WORKER: "false" });
    worker = await startService(db.url, { MATIH_RENDER_PACE: "0.004" });
    await api.app.listen({ port: 0, host: "127.0.0.1" });
    const address = api.app.server.address() as { port: number };
    base = `ws://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await db?.drop();
  });

  it("sends the snapshot, every phase transition in order and a final message, to many subscribers, whichever process runs the job", async () => {
    const tenant = (await api.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("watched", "professional") })).json().tenant;
    const [viaHeader, viaQuery] = await Promise.all([
      collect(`${base}/ws/provisioning/${tenant.id}`, auth(READ_TOKEN)),
      collect(`${base}/ws/provisioning/watched?access_token=${ADMIN_TOKEN}`),
    ]);
    for (const { messages, code } of [viaHeader, viaQuery]) {
      expect(code).toBe(1000);
      expect(messages[0].type).toBe("snapshot");
      expect(messages[0].status.phases).toHaveLength(PHASES.length);
      const final = messages.at(-1);
      expect(final).toMatchObject({ type: "final", runStatus: "SUCCEEDED", tenantStatus: "ACTIVE", error: null });
      const transitions = messages.filter((m) => m.type === "phase").map((m) => [m.phase.number, m.phase.status]);
      // Whatever the snapshot already showed as done is not repeated; everything after it arrives in order.
      const doneAtSnapshot = messages[0].status.phases.filter((p: any) => p.status === "SUCCEEDED").length;
      const expected = PHASES.slice(doneAtSnapshot).flatMap((p) => [[p.number, "RUNNING"], [p.number, "SUCCEEDED"]]);
      expect(transitions.filter(([n]) => n > doneAtSnapshot)).toEqual(expected);
      expect(doneAtSnapshot).toBeLessThan(PHASES.length);
      expect(messages.some((m) => m.type === "progress" && m.resources && m.resource?.urn)).toBe(true);
    }
  });

  it("sends the snapshot and closes at once when nothing is running", async () => {
    const tenant = (await api.app.inject({ method: "GET", url: "/api/v1/tenants/watched", headers: auth() })).json();
    const { messages, code } = await collect(`${base}/ws/provisioning/${tenant.id}`, auth());
    expect(code).toBe(1000);
    expect(messages.map((m) => m.type)).toEqual(["snapshot", "final"]);
    expect(messages[1].tenantStatus).toBe("ACTIVE");
  });

  it("shows an update run like a provisioning run: snapshot of the update, its phase transitions, and a final ACTIVE", async () => {
    const change = (await api.app.inject({ method: "POST", url: "/api/v1/tenants/watched/changes", headers: auth(), payload: { tier: "free", reason: "downsize" } })).json();
    let reviewed: any;
    for (let i = 0; i < 300 && reviewed?.status !== "PENDING_REVIEW"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      reviewed = (await api.app.inject({ method: "GET", url: `/api/v1/tenants/watched/changes/${change.id}`, headers: auth() })).json();
    }
    expect(reviewed.status).toBe("PENDING_REVIEW");
    const approved = await api.app.inject({ method: "POST", url: `/api/v1/tenants/watched/changes/${change.id}/approve`, headers: auth(), payload: {} });
    expect(approved.statusCode).toBe(202);
    const { messages, code } = await collect(`${base}/ws/provisioning/watched`, auth(READ_TOKEN));
    expect(code).toBe(1000);
    expect(messages[0].status).toMatchObject({ status: "UPDATING", run: { kind: "update", id: approved.json().run.id } });
    expect(messages.at(-1)).toMatchObject({ type: "final", runId: approved.json().run.id, runStatus: "SUCCEEDED", tenantStatus: "ACTIVE" });
    const transitions = messages.filter((m) => m.type === "phase" && m.runId === approved.json().run.id);
    expect(transitions.length).toBeGreaterThan(0);
    expect(transitions.at(-1).phase).toMatchObject({ number: PHASES.length, status: "SUCCEEDED" });
    const status = (await api.app.inject({ method: "GET", url: "/api/v1/tenants/watched/provisioning/status", headers: auth() })).json();
    expect(status).toMatchObject({ status: "ACTIVE", run: { kind: "update", status: "SUCCEEDED" }, progress: 100 });
  });

  it("tells a subscriber of an unknown tenant so and closes", async () => {
    const { messages, code } = await collect(`${base}/ws/provisioning/nobody`, auth());
    expect(code).toBe(4404);
    expect(messages).toEqual([{ type: "error", code: "not_found", message: 'tenant "nobody" was not found' }]);
  });

  it("refuses a WebSocket without a token", async () => {
    await expect(collect(`${base}/ws/provisioning/watched`)).rejects.toThrow(/401/);
  });
});
