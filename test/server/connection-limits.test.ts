/**
 * One client cannot starve the service: connections are capped per client
 * address and in total, half-sent requests time out, and a reserve lets health
 * probes in while the service is full. The floods come from 127.0.0.2 and up
 * (every 127/8 address is this machine) against a real listening service with
 * lowered caps; a few hundred sockets at most, far inside `ulimit -n`.
 */
import http from "node:http";
import net from "node:net";
import Fastify from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../server/config.ts";
import connectionsPlugin, { addressKey, ConnectionCounter, FD_RESERVE, RESERVE_PER_ADDRESS } from "../../server/plugins/connections.ts";
import { probePostgres } from "../support/postgres.ts";
import { auth, freshDatabase, READ_TOKEN, startService, type TestService } from "../support/service.ts";

describe("connection limit settings", () => {
  it("has defaults, and takes each from its variable", () => {
    expect(loadServiceConfig({}).connections).toEqual({ maxConnections: 4096, maxPerAddress: 256, healthReserve: 16, headersTimeoutSeconds: 10 });
    const set = loadServiceConfig({ MATIH_MAX_CONNECTIONS: "100", MATIH_MAX_CONNECTIONS_PER_ADDRESS: "10", MATIH_HEALTH_CONNECTIONS: "0", MATIH_HEADERS_TIMEOUT_SECONDS: "3" });
    expect(set.connections).toEqual({ maxConnections: 100, maxPerAddress: 10, healthReserve: 0, headersTimeoutSeconds: 3 });
    expect(() => loadServiceConfig({ MATIH_MAX_CONNECTIONS: "0", MATIH_HEADERS_TIMEOUT_SECONDS: "soon" })).toThrow(/MATIH_MAX_CONNECTIONS must be[\s\S]*MATIH_HEADERS_TIMEOUT_SECONDS must be/);
  });
});

describe("counting connections", () => {
  it("counts IPv4 clients by address (also IPv4-mapped) and IPv6 clients by their /64", () => {
    expect(addressKey("10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("2001:db8:0:1::5")).toBe("2001:db8:0:1::/64");
    expect(addressKey("2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:0:1::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
  });

  it("refuses an address beyond its cap, lets others in, and counts a released place again", () => {
    const counter = new ConnectionCounter({ maxConnections: 10, maxPerAddress: 2, healthReserve: 0 });
    expect([counter.admit("10.0.0.1"), counter.admit("::ffff:10.0.0.1"), counter.admit("10.0.0.1")]).toEqual(["admitted", "admitted", "per-address"]);
    expect([counter.admit("2001:db8::1"), counter.admit("2001:db8::2"), counter.admit("2001:db8:0:0:ffff::9")]).toEqual(["admitted", "admitted", "per-address"]);
    expect(counter.admit("10.0.0.2")).toBe("admitted");
    counter.release("10.0.0.1", "admitted");
    expect(counter.admit("10.0.0.1")).toBe("admitted");
    expect(counter.open).toEqual({ regular: 5, reserve: 0, addresses: 3 });
  });

  it("lets in a reserve beyond the total, at most RESERVE_PER_ADDRESS from one address, and nothing beyond it", () => {
    const counter = new ConnectionCounter({ maxConnections: 2, maxPerAddress: 100, healthReserve: 3 });
    expect([counter.admit("10.0.0.1"), counter.admit("10.0.0.1")]).toEqual(["admitted", "admitted"]);
    const fromOne = Array.from({ length: RESERVE_PER_ADDRESS + 1 }, () => counter.admit("10.0.0.1"));
    expect(fromOne).toEqual([...Array<string>(RESERVE_PER_ADDRESS).fill("health-reserve"), "total"]);
    expect([counter.admit("10.0.0.2"), counter.admit("10.0.0.3")]).toEqual(["health-reserve", "total"]);
    counter.release("10.0.0.2", "health-reserve");
    expect(counter.admit("10.0.0.3")).toBe("health-reserve");
    counter.release("10.0.0.1", "admitted");
    expect(counter.admit("10.0.0.4")).toBe("admitted");
    expect(counter.open).toEqual({ regular: 2, reserve: 3, addresses: 3 });
  });

  it("does not cap a trusted proxy's address, which every client behind it shares", () => {
    const trusted = new net.BlockList();
    trusted.addSubnet("10.9.0.0", 16, "ipv4");
    const counter = new ConnectionCounter({ maxConnections: 10, maxPerAddress: 1, healthReserve: 0 }, trusted);
    expect([counter.admit("10.9.0.7"), counter.admit("::ffff:10.9.0.7"), counter.admit("10.9.0.7")]).toEqual(["admitted", "admitted", "admitted"]);
    expect([counter.admit("10.8.0.7"), counter.admit("10.8.0.7")]).toEqual(["admitted", "per-address"]);
  });

  it("exempts the proxies MATIH_TRUST_PROXY names (addresses and ranges), not a hop count's", async () => {
    const limits = { maxConnections: 100, maxPerAddress: 1, healthReserve: 0, headersTimeoutSeconds: 10 };
    for (const [trustProxy, exempt] of [[loadServiceConfig({ MATIH_TRUST_PROXY: "10.9.0.0/16, 192.0.2.1" }).trustProxy, true], [1, false]] as const) {
      const app = Fastify();
      await app.register(connectionsPlugin, { limits, trustProxy, openFileLimit: async () => null });
      await app.ready();
      for (const proxy of ["10.9.4.2", "192.0.2.1"]) {
        expect([app.connections.admit(proxy), app.connections.admit(proxy)], `${proxy} with ${trustProxy}`).toEqual(["admitted", exempt ? "admitted" : "per-address"]);
      }
      expect([app.connections.admit("192.0.2.2"), app.connections.admit("192.0.2.2")]).toEqual(["admitted", "per-address"]);
      await app.close();
    }
  });

  it("lowers the total so that the open-file limit keeps its reserve for the database and workers, and says so", async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: { level: "warn", stream: { write: (line: string) => void lines.push(line) } } });
    await app.register(connectionsPlugin, {
      limits: { maxConnections: 4096, maxPerAddress: 256, healthReserve: 16, headersTimeoutSeconds: 10 },
      trustProxy: false,
      openFileLimit: async () => 1024,
    });
    await app.ready();
    expect(app.connections.limits.maxConnections).toBe(1024 - 16 - FD_RESERVE);
    expect(app.server.maxConnections).toBe(1024 - FD_RESERVE);
    expect(lines.join("")).toMatch(/serving at most 752 connections/);
    await app.close();
  });
});

interface Held {
  socket: net.Socket;
  closed: boolean;
}

const opened: Held[] = [];

/** Opens `count` connections from `localAddress` at once, each sending `head` and never the rest; resolves once each is connected or refused. */
async function flood(port: number, localAddress: string, count: number, head = "GET /api/v1/tenants HTTP/1.1\r\nHost: matih\r\nX-Slow: "): Promise<Held[]> {
  return Promise.all(Array.from({ length: count }, async () => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    const entry: Held = { socket, closed: false };
    opened.push(entry);
    socket.on("close", () => (entry.closed = true));
    socket.on("error", () => undefined);
    // Read what the server sends (a 408 once the headers time out), or its end never shows.
    socket.resume();
    await new Promise<void>((resolve) => {
      socket.once("connect", () => socket.write(head, () => resolve()));
      socket.once("close", () => resolve());
    });
    return entry;
  }));
}

/** One request from `localAddress` on a connection of its own. */
function request(port: number, path: string, headers: Record<string, string> = {}, localAddress = "127.0.0.1"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, headers, localAddress, agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pg = await probePostgres();

describe.skipIf(!pg.available)("a slow-request flood against the running service", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let service: TestService;
  let port: number;
  const open = () => service.app.connections.open;

  beforeAll(async () => {
    db = await freshDatabase();
    service = await startService(db.url, {
      MATIH_WORKER: "false",
      MATIH_MAX_CONNECTIONS: "60",
      MATIH_MAX_CONNECTIONS_PER_ADDRESS: "20",
      MATIH_HEALTH_CONNECTIONS: "6",
      MATIH_HEADERS_TIMEOUT_SECONDS: "4",
    });
    await service.app.listen({ port: 0, host: "127.0.0.1" });
    port = (service.app.server.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    for (const held of opened.splice(0)) held.socket.destroy();
    await until("the server let go of every flood connection", () => open().regular + open().reserve === 0);
  });
  afterAll(async () => {
    await service?.close();
    await db?.drop();
  });

  it("holds at most the per-address cap of two clients' half-sent requests, and still answers /healthz and a valid request", async () => {
    const [first, second] = [await flood(port, "127.0.0.2", 100), await flood(port, "127.0.0.3", 100)];
    await until("the refused connections are closed", () => [...first, ...second].filter((h) => !h.closed).length === 40);
    expect(first.filter((h) => !h.closed)).toHaveLength(20);
    expect(second.filter((h) => !h.closed)).toHaveLength(20);
    expect(open()).toEqual({ regular: 40, reserve: 0, addresses: 2 });
    const health = await request(port, "/healthz");
    expect([health.status, JSON.parse(health.body)]).toEqual([200, { status: "ok" }]);
    const ready = await request(port, "/readyz");
    expect(ready.status).toBe(200);
    const list = await request(port, "/api/v1/tenants", auth(READ_TOKEN));
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body)).toMatchObject({ items: [], total: 0 });

    const metrics = await request(port, "/metrics", auth(READ_TOKEN));
    expect(Number(/matih_http_connections_refused_total\{reason="per_address"\} (\d+)/.exec(metrics.body)?.[1])).toBe(160);
    // The 40 held, this scrape's own, and any of the requests above the server has not yet seen closed.
    const regular = Number(/matih_http_connections\{kind="regular"\} (\d+)/.exec(metrics.body)?.[1]);
    expect(regular).toBeGreaterThanOrEqual(41);
    expect(regular).toBeLessThanOrEqual(44);
    // Their headers never end: the server closes each held connection after the headers timeout
    // (4 s here, not the 30 s a whole request may take).
    expect(service.app.server.headersTimeout).toBe(4000);
    await until("the held connections are closed", () => [...first, ...second].every((h) => h.closed));
    expect(open().regular).toBe(0);
  });

  it("also closes connections that send nothing at all", async () => {
    const silent = await flood(port, "127.0.0.4", 5, "");
    await until("the server holds them", () => open().regular === 5);
    await until("the silent connections are closed", () => silent.every((h) => h.closed));
  });

  it("keeps a reserve for health probes when every connection is taken: /healthz answers, anything else 503, and each reserve connection closes after one answer", async () => {
    for (const address of ["127.0.0.2", "127.0.0.3", "127.0.0.4"]) await flood(port, address, 20);
    await until("the service is full", () => open().regular === 60);
    // A further client gets RESERVE_PER_ADDRESS places of the reserve, and no more.
    const late = await flood(port, "127.0.0.5", 10);
    await until("the rest of the late client's connections are closed", () => late.filter((h) => !h.closed).length === RESERVE_PER_ADDRESS);
    expect(open()).toEqual({ regular: 60, reserve: RESERVE_PER_ADDRESS, addresses: 4 });

    const health = await request(port, "/healthz");
    expect(health.status).toBe(200);
    expect(health.headers.connection).toBe("close");
    const ready = await request(port, "/readyz");
    expect(ready.status).toBe(200);
    const list = await request(port, "/api/v1/tenants", auth(READ_TOKEN));
    expect(list.status).toBe(503);
    expect(JSON.parse(list.body)).toEqual({ code: "service_busy", message: "the service holds as many connections as it serves; try again shortly" });
    expect(list.headers["retry-after"]).toBe("1");
    expect(list.headers.connection).toBe("close");
    await until("the answered reserve connections are closed", () => open().reserve === RESERVE_PER_ADDRESS);
  });
});
