/**
 * No client holds the service's connections: request bodies must arrive in
 * time, idle connections close, WebSockets (a tenant's and the fleet's) are
 * capped per token, pinged, and closed when too old, and the live bus has a
 * bound that covers both streams.
 */
import net from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BusFullError, DEFAULT_MAX_SUBSCRIBERS, ProgressBus } from "../../server/live/progress-bus.ts";
import { probePostgres } from "../support/postgres.ts";
import { ADMIN_TOKEN, auth, freshDatabase, READ_TOKEN, startService, tenantRequest, type TestService } from "../support/service.ts";

const pgProbe = await probePostgres();

describe("the live progress bus", () => {
  it("refuses subscribers beyond its limit, and counts each unsubscribe once", () => {
    const bus = new ProgressBus({ pool: {} as pg.Pool, databaseUrl: "postgresql://unused", maxSubscribers: 2 });
    const first = bus.subscribe("t1", () => undefined);
    bus.subscribe("t2", () => undefined);
    expect(() => bus.subscribe("t1", () => undefined)).toThrow(BusFullError);
    first();
    first();
    expect(bus.subscriberTotal()).toBe(1);
    bus.subscribe("t1", () => undefined);
    expect(() => bus.subscribe("t3", () => undefined)).toThrow(/already serves 2 subscribers/);
  });

  it("counts fleet-wide subscribers against the same limit, each unsubscribe once, and still delivers to them", () => {
    const bus = new ProgressBus({ pool: {} as pg.Pool, databaseUrl: "postgresql://unused", maxSubscribers: 2 });
    const seen: string[] = [];
    const fleet = bus.subscribeAll((m) => seen.push(m.tenantId));
    bus.subscribe("t1", () => undefined);
    expect(() => bus.subscribeAll(() => undefined)).toThrow(BusFullError);
    expect(() => bus.subscribe("t2", () => undefined)).toThrow(BusFullError);
    void bus.publish({ type: "phase", tenantId: "t9" }).catch(() => undefined);
    expect(seen).toEqual(["t9"]);
    fleet();
    fleet();
    expect(bus.subscriberTotal()).toBe(1);
    bus.subscribeAll(() => undefined);
    expect(() => bus.subscribeAll(() => undefined)).toThrow(/already serves 2 subscribers/);
  });
});

/** Resolves with how long the server took to close a raw connection that sends `head` and then one byte every 200 ms. */
function dribble(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
    const timer = setInterval(() => socket.writable && socket.write("x"), 200);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error("the server kept the connection open for 20 s"));
    }, 20_000);
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
  });
}

interface Closed {
  code: number;
  afterMs: number;
  messages: any[];
}

/** Every socket a test opened; closed after each test, so that one test's failure leaves no socket counted against the next. */
const socketsOpened: WebSocket[] = [];

function watch(url: string, headers: Record<string, string>, options: { autoPong?: boolean } = {}): { socket: WebSocket; opened: Promise<void>; closed: Promise<Closed> } {
  const started = Date.now();
  const socket = new WebSocket(url, { headers, autoPong: options.autoPong ?? true });
  socketsOpened.push(socket);
  const messages: any[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  const closed = new Promise<Closed>((resolve) => socket.on("close", (code) => resolve({ code, afterMs: Date.now() - started, messages })));
  return { socket, opened, closed };
}

describe.skipIf(!pgProbe.available)("connections the service does not let a client hold", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let port: number;
  let tenantId: string;

  beforeAll(async () => {
    db = await freshDatabase();
    // No worker: the tenant's run stays queued, so live sockets stay open until the service closes them.
    service = await startService(db.url, {
      MATIH_WORKER: "false",
      MATIH_REQUEST_TIMEOUT_SECONDS: "2",
      MATIH_CONNECTION_TIMEOUT_SECONDS: "3",
      MATIH_WS_MAX_PER_PRINCIPAL: "3",
      MATIH_WS_PING_SECONDS: "1",
      MATIH_WS_MAX_AGE_SECONDS: "5",
    });
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    port = (service.app.server.address() as { port: number }).port;
    tenantId = (await service.app.inject({ method: "POST", url: "/api/v1/tenants", headers: auth(), payload: tenantRequest("watched") })).json().tenant.id;
  });
  afterEach(async () => {
    for (const socket of socketsOpened.splice(0)) socket.terminate();
    // The server lets go of a socket a moment after the client's end is gone.
    const deadline = Date.now() + 5000;
    while (service.app.bus.subscriberTotal() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  /** Waits until the server holds `n` live subscribers: it lets go of a socket a moment after the client saw it close. */
  async function serverHolds(n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (service.app.bus.subscriberTotal() !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(service.app.bus.subscriberTotal()).toBe(n);
  }

  it("cuts off a request body dribbled byte by byte once the request timeout is over", async () => {
    const head = `POST /api/v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`;
    const ms = await dribble(port, head);
    expect(ms).toBeGreaterThanOrEqual(1500);
    expect(ms).toBeLessThan(6000);
  });

  it("cuts off an unauthenticated request that dribbles its body", async () => {
    const head = `POST /api/v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`;
    expect(await dribble(port, head)).toBeLessThan(6000);
  });

  it("cuts off request headers that never end", async () => {
    expect(await dribble(port, "GET /healthz HTTP/1.1\r\nX-Slow: ")).toBeLessThan(6000);
  });

  it("lets one token hold 3 live sockets, refuses a 4th with 1013, and lets another token in", async () => {
    const url = `ws://127.0.0.1:${port}/ws/provisioning/${tenantId}`;
    await serverHolds(0);
    const held = [watch(url, auth()), watch(url, auth()), watch(url, auth())];
    await Promise.all(held.map((h) => h.opened));
    await serverHolds(3);
    const fourth = watch(url, auth());
    const refused = await fourth.closed;
    expect(refused.code).toBe(1013);
    expect(refused.messages.at(-1)).toMatchObject({ type: "error", code: "too_many_connections" });
    const other = watch(url, auth(READ_TOKEN));
    await other.opened;
    await serverHolds(4);
    held[0]!.socket.close();
    await held[0]!.closed;
    await serverHolds(3);
    const again = watch(url, auth());
    await again.opened;
    for (const s of [held[1]!, held[2]!, other, again]) s.socket.close();
    await Promise.all([held[1]!, held[2]!, other, again].map((s) => s.closed));
  });

  it("counts a token's fleet sockets with its tenant sockets: 2 + 1 held, a 4th of either kind refused with 1013, another token let in", async () => {
    const tenantUrl = `ws://127.0.0.1:${port}/ws/provisioning/${tenantId}`;
    const fleetUrl = `ws://127.0.0.1:${port}/ws/provisioning`;
    await serverHolds(0);
    const held = [watch(tenantUrl, auth()), watch(tenantUrl, auth()), watch(fleetUrl, auth())];
    await Promise.all(held.map((h) => h.opened));
    await serverHolds(3);
    for (const url of [fleetUrl, tenantUrl]) {
      const refused = await watch(url, auth()).closed;
      expect(refused.code).toBe(1013);
      expect(refused.messages).toEqual([{ type: "error", code: "too_many_connections", message: "this token already has 3 live connections open; close one first" }]);
    }
    const other = watch(fleetUrl, auth(READ_TOKEN));
    await other.opened;
    // A closed fleet socket gives its place back.
    await serverHolds(4);
    held[2]!.socket.close();
    await held[2]!.closed;
    await serverHolds(3);
    const again = watch(fleetUrl, auth());
    await again.opened;
    for (const s of [held[0]!, held[1]!, other, again]) s.socket.close();
    await Promise.all([held[0]!, held[1]!, other, again].map((s) => s.closed));
  });

  it("closes a fleet socket that does not answer pings (1011), and one that is older than the limit (1001)", async () => {
    const url = `ws://127.0.0.1:${port}/ws/provisioning`;
    await serverHolds(0);
    const silent = watch(url, auth(), { autoPong: false });
    const polite = watch(url, auth());
    const dropped = await silent.closed;
    expect(dropped.code).toBe(1011);
    expect(dropped.afterMs).toBeLessThan(4000);
    const aged = await polite.closed;
    expect(aged.code).toBe(1001);
    expect(aged.afterMs).toBeGreaterThanOrEqual(4500);
    expect(aged.afterMs).toBeLessThan(8000);
    expect(aged.messages[0]).toEqual({ type: "subscribed" });
  });

  it("refuses a fleet socket with 1013 when the live bus serves all the subscribers it may", async () => {
    const bus = service.app.bus;
    await serverHolds(0);
    const fillers: (() => void)[] = [];
    try {
      while (bus.subscriberTotal() < DEFAULT_MAX_SUBSCRIBERS) fillers.push(bus.subscribe(tenantId, () => undefined));
      const refused = await watch(`ws://127.0.0.1:${port}/ws/provisioning`, auth()).closed;
      expect(refused.code).toBe(1013);
      expect(refused.messages).toEqual([{ type: "error", code: "too_many_connections", message: "the service has as many live connections as it serves; try again later" }]);
    } finally {
      for (const release of fillers) release();
    }
    // The refused socket gave its place back: the token may open its 3 again.
    const three = [1, 2, 3].map(() => watch(`ws://127.0.0.1:${port}/ws/provisioning`, auth()));
    await Promise.all(three.map((t) => t.opened));
    for (const t of three) t.socket.close();
    await Promise.all(three.map((t) => t.closed));
  });

  it("closes a socket that does not answer pings (1011), and one that is older than the limit (1001)", async () => {
    const url = `ws://127.0.0.1:${port}/ws/provisioning/${tenantId}`;
    await serverHolds(0);
    const silent = watch(url, auth(), { autoPong: false });
    const polite = watch(url, auth());
    const dropped = await silent.closed;
    expect(dropped.code).toBe(1011);
    expect(dropped.afterMs).toBeLessThan(4000);
    const aged = await polite.closed;
    expect(aged.code).toBe(1001);
    expect(aged.afterMs).toBeGreaterThanOrEqual(4500);
    expect(aged.afterMs).toBeLessThan(8000);
    expect(aged.messages[0].type).toBe("snapshot");
  });
});
