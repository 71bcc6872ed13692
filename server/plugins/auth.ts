/**
 * Bearer-token authentication for /api and /ws. Tokens have a scope: `read`
 * may read, `admin` may also write. Tokens are compared by hash in constant
 * time and never logged.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export type Scope = "read" | "admin";

declare module "fastify" {
  interface FastifyRequest {
    principal: { name: string; scope: Scope } | null;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public (health, metrics, docs). */
    scope?: Scope;
  }
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

async function authPlugin(fastify: FastifyInstance, opts: { tokens: readonly { token: string; scope: Scope; principal: string }[] }): Promise<void> {
  const known = opts.tokens.map((t) => ({ hash: digest(t.token), scope: t.scope, name: t.principal }));
  fastify.decorateRequest("principal", null);
  fastify.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const needed = request.routeOptions.config?.scope;
    if (!needed) return;
    const token = bearerOf(request);
    const hash = token ? digest(token) : null;
    const match = hash ? known.find((k) => timingSafeEqual(k.hash, hash)) : undefined;
    if (!match) {
      reply.header("www-authenticate", 'Bearer realm="matih"');
      return reply.code(401).send({ code: "unauthorized", message: "send a valid bearer token in the Authorization header" });
    }
    if (needed === "admin" && match.scope !== "admin") {
      return reply.code(403).send({ code: "forbidden", message: "this token may only read; changes need an admin token" });
    }
    request.principal = { name: match.name, scope: match.scope };
  });
}

export default fp(authPlugin, { name: "matih-auth", fastify: "5.x" });
