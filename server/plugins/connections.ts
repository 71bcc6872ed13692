/**
 * How many connections the service holds, so that no client can take the file
 * descriptors the database, the workers and health probes need. Two clients
 * that held 10,500 idle half-sent requests each once exhausted them: /healthz
 * stopped answering and database connects failed with EMFILE.
 *
 * - Per client address: at most `maxPerAddress` open connections (IPv6 clients
 *   by their /64, which one client holds whole); a trusted proxy's address is
 *   exempt, since every client behind it shares it.
 * - In total: `maxConnections`. Beyond it `healthReserve` more are let in, for
 *   /healthz and /readyz only: any other request on them is answered 503 and
 *   each closes after one answer, so that probes get in while the service is
 *   full and the reserve is never kept. One address holds at most
 *   RESERVE_PER_ADDRESS of them (a liveness and a readiness probe at once), so
 *   a client that filled the service cannot fill the reserve as well.
 * - Both together stay `FD_RESERVE` descriptors below the process's limit on
 *   open files; a configuration that would not is lowered, with a warning.
 *
 * Request headers must arrive within the headers timeout (set on the server in
 * build.ts), so a half-sent request holds its connection only that long.
 */
import { readFile } from "node:fs/promises";
import { BlockList, isIP, isIPv4, isIPv6, type Socket } from "node:net";
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { Counter, Gauge } from "prom-client";

export interface ConnectionLimits {
  /** MATIH_MAX_CONNECTIONS: open HTTP connections (WebSockets included) in all; default 4096. */
  readonly maxConnections: number;
  /** MATIH_MAX_CONNECTIONS_PER_ADDRESS: open connections from one client address (an IPv6 /64); default 256. */
  readonly maxPerAddress: number;
  /** MATIH_HEALTH_CONNECTIONS: connections beyond MATIH_MAX_CONNECTIONS kept for /healthz and /readyz; default 16. */
  readonly healthReserve: number;
  /** MATIH_HEADERS_TIMEOUT_SECONDS: a request's headers must arrive within this (at most the request timeout); default 10. */
  readonly headersTimeoutSeconds: number;
}

/** Descriptors kept free of client connections: database pools and listeners, worker pipes, Kafka and SMTP, files. */
export const FD_RESERVE = 256;

/** Health-reserve connections one address may hold at once. */
export const RESERVE_PER_ADDRESS = 2;

/** Routes the health reserve serves. */
const HEALTH_ROUTES = new Set(["/healthz", "/readyz"]);

/** The soft limit on open files (Node raises it to the hard limit at start), or null where /proc does not tell. */
export async function openFileLimit(): Promise<number | null> {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(await readFile("/proc/self/limits", "utf8"));
    if (!match) return null;
    return match[1] === "unlimited" ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/**
 * The key a connection is counted under: an IPv4 address (also when written
 * IPv4-mapped), or an IPv6 address's first 64 bits, since one client (one
 * network) is usually given a whole /64.
 */
export function addressKey(address: string): string {
  const plain = address.split("%")[0]!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped) return mapped[1]!;
  if (!isIPv6(plain)) return plain;
  const [head, tail] = plain.split("::");
  const groups = head ? head.split(":") : [];
  if (tail !== undefined) {
    // The :: stands for as many zero groups as the address lacks (an IPv4 tail counts as two).
    const tailGroups = tail ? tail.split(":") : [];
    const tailCount = tailGroups.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
    groups.push(...Array<string>(8 - groups.length - tailCount).fill("0"), ...tailGroups);
  }
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(":")}::/64`;
}

/** Proxies named in MATIH_TRUST_PROXY (addresses and ranges); a hop count names none. */
function trustedProxies(trustProxy: false | number | string): BlockList | null {
  if (typeof trustProxy !== "string") return null;
  const list = new BlockList();
  for (const entry of trustProxy.split(",")) {
    const [address, bits] = entry.trim().split("/");
    const type = isIPv4(address!) ? "ipv4" : "ipv6";
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return list;
}

export type Admission = "admitted" | "health-reserve" | "per-address" | "total";

/**
 * The counts behind the limits: which connections are open, from where, and
 * which hold a place in the health reserve.
 */
export class ConnectionCounter {
  readonly limits: { maxConnections: number; maxPerAddress: number; healthReserve: number };
  private readonly trusted: BlockList | null;
  private readonly perAddress = new Map<string, number>();
  private readonly reservedBy = new Map<string, number>();
  private regular = 0;
  private reserve = 0;

  constructor(limits: { maxConnections: number; maxPerAddress: number; healthReserve: number }, trusted: BlockList | null = null) {
    this.limits = limits;
    this.trusted = trusted;
  }

  /** Counts a new connection from `address` if the limits allow it; `release` must follow for everything but a refusal. */
  admit(address: string): Admission {
    const key = addressKey(address);
    const plain = address.split("%")[0]!;
    const family = isIP(plain);
    const capped = !(this.trusted && family !== 0 && this.trusted.check(plain, family === 4 ? "ipv4" : "ipv6"));
    const held = this.perAddress.get(key) ?? 0;
    if (capped && held >= this.limits.maxPerAddress) return "per-address";
    let admission: Admission = "admitted";
    if (this.regular < this.limits.maxConnections) this.regular++;
    else {
      const reserved = this.reservedBy.get(key) ?? 0;
      if (this.reserve >= this.limits.healthReserve || reserved >= RESERVE_PER_ADDRESS) return "total";
      this.reserve++;
      this.reservedBy.set(key, reserved + 1);
      admission = "health-reserve";
    }
    this.perAddress.set(key, held + 1);
    return admission;
  }

  release(address: string, admission: Admission): void {
    const key = addressKey(address);
    decrement(this.perAddress, key);
    if (admission === "health-reserve") {
      this.reserve--;
      decrement(this.reservedBy, key);
    } else this.regular--;
  }

  get open(): { regular: number; reserve: number; addresses: number } {
    return { regular: this.regular, reserve: this.reserve, addresses: this.perAddress.size };
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

export interface ConnectionsPluginOptions {
  limits: ConnectionLimits;
  trustProxy: false | number | string;
  /** For tests: the open-file limit to plan for; default read from /proc. */
  openFileLimit?: () => Promise<number | null>;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The connection counts and the limits in force (after any lowering to fit the open-file limit). */
    connections: ConnectionCounter;
  }
}

const kReserve = Symbol("matih.healthReserve");

async function connectionsPlugin(fastify: FastifyInstance, opts: ConnectionsPluginOptions): Promise<void> {
  const { limits } = opts;
  let maxConnections = limits.maxConnections;
  const fileLimit = await (opts.openFileLimit ?? openFileLimit)();
  if (fileLimit !== null && maxConnections + limits.healthReserve + FD_RESERVE > fileLimit) {
    maxConnections = Math.max(1, fileLimit - limits.healthReserve - FD_RESERVE);
    fastify.log.warn({ configured: limits.maxConnections, openFileLimit: fileLimit, maxConnections },
      `MATIH_MAX_CONNECTIONS would leave fewer than ${FD_RESERVE} of the process's ${fileLimit} open files for the database and workers: serving at most ${maxConnections} connections (raise the limit with ulimit -n, or lower MATIH_MAX_CONNECTIONS)`);
  }
  const counter = new ConnectionCounter({ maxConnections, maxPerAddress: limits.maxPerAddress, healthReserve: limits.healthReserve }, trustedProxies(opts.trustProxy));
  fastify.decorate("connections", counter);

  const refused = new Counter({
    name: "matih_http_connections_refused_total",
    help: "Connections closed on arrival: too many from one address (per_address) or in all (total)",
    labelNames: ["reason"],
    registers: fastify.hasDecorator("metrics") ? [fastify.metrics.registry] : [],
  });
  new Gauge({
    name: "matih_http_connections",
    help: "Open HTTP connections (WebSockets included): regular, or in the health reserve",
    labelNames: ["kind"],
    registers: fastify.hasDecorator("metrics") ? [fastify.metrics.registry] : [],
    collect() {
      this.set({ kind: "regular" }, counter.open.regular);
      this.set({ kind: "health_reserve" }, counter.open.reserve);
    },
  });

  // One warning per reason and 10 s at most: a flood must not flood the log too.
  const lastWarned = new Map<string, { at: number; since: number }>();
  const warn = (reason: "per_address" | "total", address: string) => {
    const now = Date.now();
    const last = lastWarned.get(reason) ?? { at: 0, since: 0 };
    last.since++;
    if (now - last.at >= 10_000) {
      fastify.log.warn({ reason, client: address, refusedSinceLastWarning: last.since, limits: counter.limits },
        reason === "per_address" ? "connection refused: the client address holds as many connections as it may" : "connection refused: the service holds as many connections as it serves");
      last.at = now;
      last.since = 0;
    }
    lastWarned.set(reason, last);
  };

  // Node drops connections beyond this before they reach any listener: a backstop should the counts above ever be wrong.
  fastify.server.maxConnections = maxConnections + limits.healthReserve;
  fastify.server.on("drop", () => refused.inc({ reason: "total" }));
  fastify.server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress;
    // A socket already closed has no address; it has nothing left to count.
    if (!address) return;
    const admission = counter.admit(address);
    if (admission === "per-address" || admission === "total") {
      refused.inc({ reason: admission === "total" ? "total" : "per_address" });
      warn(admission === "total" ? "total" : "per_address", address);
      socket.destroy();
      return;
    }
    if (admission === "health-reserve") (socket as Socket & { [kReserve]?: boolean })[kReserve] = true;
    socket.once("close", () => counter.release(address, admission));
  });

  fastify.addHook("onRequest", async (request, reply) => {
    if (!(request.raw.socket as (Socket & { [kReserve]?: boolean }) | undefined)?.[kReserve]) return;
    // One answer per reserve connection, so that none keeps its place.
    reply.header("connection", "close");
    if (HEALTH_ROUTES.has(request.routeOptions.url ?? "")) return;
    reply.header("retry-after", "1");
    return reply.code(503).send({ code: "service_busy", message: "the service holds as many connections as it serves; try again shortly" });
  });
}

export default fp(connectionsPlugin, { name: "matih-connections", fastify: "5.x" });
