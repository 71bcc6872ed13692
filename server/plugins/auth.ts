/**
 * Bearer-token authentication for /api, /ws and /metrics. Tokens have a
 * scope: `read` may read, `admin` may also write. Tokens are compared by hash
 * in constant time and never logged. Failed attempts are counted per client
 * address (@fastify/rate-limit): over the limit, an address gets 429 for every
 * wrong token for the rest of the window, and its connection is closed.
 *
 * A right token is let in even then. Many clients can share one address (all
 * of them behind a proxy that is not trusted, or scripts on one host), and one
 * script with a typo must not lock all the others out. That gives up no
 * protection against guessing: a token has at least 10^25 estimated guesses
 * (security/token-rules.ts), which no rate of guessing exhausts; the limit is
 * what keeps failing clients, and their log lines, in check.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export type Scope = "read" | "admin";

export interface Principal {
  /** Who, for audit rows and four-eyes approvals: `admin` (every MATIH_ADMIN_TOKEN entry), a MATIH_ADMIN_TOKENS name, `reader-1`, … */
  name: string;
  scope: Scope;
  /** Identifies the token itself (a hash prefix, not the token): idempotency keys are scoped to it. */
  tokenId: string;
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public (health, docs). */
    scope?: Scope;
    /** A public route that says more to a caller with a valid token (readiness details). */
    optionalAuth?: boolean;
  }
}

export interface AuthPluginOptions {
  tokens: readonly { token: string; scope: Scope; principal: string }[];
  /** Failed authentications a client may make per minute; default 20. */
  failuresPerMinute?: number;
}

const digest = (token: string) => createHash("sha256").update(token).digest();

function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match ? match[1]! : null;
  }
  // Browsers cannot set headers on a WebSocket; they pass the token as a query parameter.
  if (request.url.startsWith("/ws/")) {
    const token = new URL(request.url, "http://localhost").searchParams.get("access_token");
    return token || null;
  }
  return null;
}

async function authPlugin(fastify: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const opts = { ...options, failuresPerMinute: options.failuresPerMinute ?? 20 };
  const known = opts.tokens.map((t) => {
    const hash = digest(t.token);
    return { hash, scope: t.scope, name: t.principal, tokenId: hash.subarray(0, 16).toString("hex") };
  });
  await fastify.register(rateLimit, { global: false });
  // Keyed by client address; per process (several processes each allow this many).
  const failures = fastify.createRateLimit({ max: opts.failuresPerMinute, timeWindow: 60_000, keyGenerator: (request) => request.ip });
  fastify.decorateRequest("principal", null);

  /**
   * A refused client does not keep its connection: the answer says close, and
   * a client still sending a body it was refused for is cut off a second later
   * (otherwise an unauthenticated request could dribble its body for ever).
   */
  const hangUp = (request: FastifyRequest, reply: FastifyReply) => {
    reply.header("connection", "close");
    const socket = request.raw.socket;
    // (An injected request, as in tests, has no real socket to cut.)
    reply.raw.once("finish", () => setTimeout(() => {
      if (typeof socket?.destroy === "function" && !socket.destroyed) socket.destroy();
    }, 1000).unref());
  };

  const tooMany = (reply: FastifyReply, ttlInSeconds: number) => {
    reply.header("retry-after", String(Math.max(1, ttlInSeconds)));
    return reply.code(429).send({ code: "too_many_requests", message: `too many failed authentications from this address; try again in ${Math.max(1, ttlInSeconds)} s` });
  };

  fastify.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const needed = request.routeOptions.config?.scope;
    const optional = request.routeOptions.config?.optionalAuth === true;
    if (!needed && !optional) return;
    const token = bearerOf(request);
    if (!token && optional) return;
    const hash = token ? digest(token) : null;
    const match = hash ? known.find((k) => timingSafeEqual(k.hash, hash)) : undefined;
    if (!match) {
      // An address that has used up its failed attempts is refused until the window ends (a right token still gets in: see above).
      const state = await failures(request, { increment: false });
      if (!state.isAllowed && state.remaining === 0) {
        hangUp(request, reply);
        return tooMany(reply, state.ttlInSeconds);
      }
      const counted = await failures(request);
      const blockedNow = !counted.isAllowed && counted.remaining === 0;
      request.log.warn({ client: request.ip, url: request.routeOptions.url, tokenSent: token !== null, blocked: blockedNow },
        blockedNow ? `authentication failed ${opts.failuresPerMinute} times in a minute: client refused for ${counted.ttlInSeconds} s` : "authentication failed");
      hangUp(request, reply);
      reply.header("www-authenticate", 'Bearer realm="matih"');
      return reply.code(401).send({ code: "unauthorized", message: "send a valid bearer token in the Authorization header" });
    }
    if (needed === "admin" && match.scope !== "admin") {
      return reply.code(403).send({ code: "forbidden", message: "this token may only read; changes need an admin token" });
    }
    request.principal = { name: match.name, scope: match.scope, tokenId: match.tokenId };
  });
}

export default fp(authPlugin, { name: "matih-auth", fastify: "5.x" });
