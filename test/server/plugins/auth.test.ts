/**
 * The authentication plugin (server/plugins/auth.ts) on a bare Fastify with
 * routes of each kind (public, read, admin, optional, WebSocket), no service
 * and no database: who gets in with which header, what a refusal says, and
 * the failed-attempt limit per client address. The whole service's view of
 * it is in test/server/security.test.ts.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import authPlugin from "../../../server/plugins/auth.ts";

const ADMIN = "Kp3vX9qLm2Wz7RbT5nYc8HdF4jGs6AeQ";
const ROTATED = "uH7rN2kVp9Zq4Xw6Lb3Tm8Yc5Jd1Gf0S";
const READER = "eW4qP8zR1mK6vB3nT9xL5cY2hJ7gD0fA";
const UNAUTHORIZED = { code: "unauthorized", message: "send a valid bearer token in the Authorization header" };
/** The design's token id: the first 16 bytes of the token's SHA-256, in hex. */
const tokenId = (token: string) => createHash("sha256").update(token).digest("hex").slice(0, 32);

let app: FastifyInstance | null = null;
let logLines: { level: number; msg: string; [key: string]: unknown }[] = [];
afterEach(async () => {
  await app?.close();
  app = null;
});

async function appWith(failuresPerMinute?: number): Promise<FastifyInstance> {
  logLines = [];
  const fastify = Fastify({ logger: { level: "info", stream: { write: (line: string) => void logLines.push(JSON.parse(line)) } } });
  await fastify.register(authPlugin, {
    tokens: [
      { token: ADMIN, scope: "admin", principal: "admin" },
      { token: ROTATED, scope: "admin", principal: "admin" },
      { token: READER, scope: "read", principal: "reader-1" },
    ],
    ...(failuresPerMinute === undefined ? {} : { failuresPerMinute }),
  });
  const principal = async (request: { principal: unknown }) => ({ principal: request.principal });
  fastify.get("/healthz", principal);
  fastify.get("/readyz", { config: { optionalAuth: true } }, principal);
  fastify.get("/api/things", { config: { scope: "read" } }, principal);
  fastify.post("/api/things", { config: { scope: "admin" } }, principal);
  fastify.get("/ws/things", { config: { scope: "read" } }, principal);
  await fastify.ready();
  app = fastify;
  return fastify;
}

const get = (url: string, authorization?: string, remoteAddress = "10.0.0.1") =>
  app!.inject({ method: "GET", url, remoteAddress, headers: authorization === undefined ? {} : { authorization } });

describe("who the auth plugin lets in", () => {
  it("leaves public routes open, with no principal, whatever token is sent", async () => {
    await appWith();
    for (const header of [undefined, `Bearer ${ADMIN}`, "Bearer wrong"]) {
      const res = await get("/healthz", header);
      expect([res.statusCode, res.json()]).toEqual([200, { principal: null }]);
    }
  });

  it("lets a read token read and an admin token write, each as its principal with its token id, and refuses a read token a write with 403", async () => {
    const fastify = await appWith();
    expect((await get("/api/things", `Bearer ${READER}`)).json()).toEqual({ principal: { name: "reader-1", scope: "read", tokenId: tokenId(READER) } });
    expect((await get("/api/things", `Bearer ${ADMIN}`)).json()).toEqual({ principal: { name: "admin", scope: "admin", tokenId: tokenId(ADMIN) } });
    const write = (token: string) => fastify.inject({ method: "POST", url: "/api/things", headers: { authorization: `Bearer ${token}` } });
    // A rotation's two tokens are one principal with two token ids.
    expect((await write(ROTATED)).json()).toEqual({ principal: { name: "admin", scope: "admin", tokenId: tokenId(ROTATED) } });
    expect(tokenId(ROTATED)).not.toBe(tokenId(ADMIN));
    const refused = await write(READER);
    expect([refused.statusCode, refused.json()]).toEqual([403, { code: "forbidden", message: "this token may only read; changes need an admin token" }]);
  });

  it("takes the scheme in any case and any run of spaces, and nothing else in the header", async () => {
    await appWith();
    for (const header of [`Bearer ${READER}`, `bearer ${READER}`, `BEARER ${READER}`, `Bearer    ${READER}`, `Bearer\t${READER}`]) {
      expect((await get("/api/things", header)).statusCode, header).toBe(200);
    }
    for (const header of [READER, `Basic ${READER}`, `Bearer ${READER} extra`, `Bearer`, `Bearer `, `xBearer ${READER}`, `Bearer ${READER.toLowerCase()}`, `Bearer ${READER}x`, `Bearer ${READER.slice(1)}`]) {
      const res = await get("/api/things", header);
      expect([res.statusCode, res.json()], header).toEqual([401, UNAUTHORIZED]);
    }
  });

  it("answers 401 with the bearer challenge and closes the connection", async () => {
    await appWith();
    const res = await get("/api/things");
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual(UNAUTHORIZED);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="matih"');
    expect(res.headers.connection).toBe("close");
    // A right token keeps its connection.
    expect((await get("/api/things", `Bearer ${READER}`)).headers.connection).not.toBe("close");
  });

  it("takes a WebSocket's token from its access_token query parameter, on /ws/ only, and a header before it", async () => {
    await appWith();
    expect((await get(`/ws/things?access_token=${READER}`)).json()).toEqual({ principal: { name: "reader-1", scope: "read", tokenId: tokenId(READER) } });
    expect((await get("/ws/things?access_token=")).statusCode).toBe(401);
    expect((await get("/ws/things")).statusCode).toBe(401);
    expect((await get("/ws/things?access_token=wrong")).statusCode).toBe(401);
    expect((await get(`/api/things?access_token=${READER}`)).statusCode).toBe(401);
    // A header, when sent, is what counts.
    expect((await get(`/ws/things?access_token=${READER}`, "Bearer wrong")).statusCode).toBe(401);
    expect((await get(`/ws/things?access_token=wrong`, `Bearer ${ADMIN}`)).json().principal.scope).toBe("admin");
  });

  it("lets an optional route in without a token, says who a right token is, and refuses a wrong one", async () => {
    await appWith();
    expect((await get("/readyz")).json()).toEqual({ principal: null });
    expect((await get("/readyz", `Bearer ${READER}`)).json()).toEqual({ principal: { name: "reader-1", scope: "read", tokenId: tokenId(READER) } });
    const wrong = await get("/readyz", "Bearer wrong");
    expect([wrong.statusCode, wrong.json()]).toEqual([401, UNAUTHORIZED]);
  });
});

describe("what a refusal leaves behind", () => {
  it("cuts off a refused client that keeps sending its body, and lets the refusal reach it first", async () => {
    const fastify = await appWith();
    const address = await fastify.listen({ host: "127.0.0.1", port: 0 });
    const { port } = new URL(address);
    const socket = net.connect(Number(port), "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => (received += String(chunk)));
    const closed = new Promise<boolean>((resolve) => {
      socket.once("close", () => resolve(true));
      // Far longer than the plugin's one second: a connection still open then was never cut.
      setTimeout(() => resolve(false), 20_000).unref();
    });
    // A body announced as 100 kB, of which one byte ever comes: the request never ends on its own.
    socket.write("POST /api/things HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
    const timer = setInterval(() => socket.writable && socket.write(" "), 100);
    try {
      expect(await closed).toBe(true);
    } finally {
      clearInterval(timer);
      socket.destroy();
    }
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    expect(received.toLowerCase()).toContain("connection: close");
  }, 30_000);

  it("adds no rate-limit headers to answers: the limit counts failed authentications only", async () => {
    await appWith(3);
    for (const res of [await get("/healthz"), await get("/api/things", `Bearer ${READER}`), await get("/api/things", "Bearer wrong")]) {
      expect(Object.keys(res.headers).filter((h) => h.startsWith("x-ratelimit"))).toEqual([]);
    }
    // Many right requests from one address are never limited.
    for (let i = 0; i < 10; i++) expect((await get("/api/things", `Bearer ${READER}`, "10.4.4.4")).statusCode).toBe(200);
  });

  it("answers an unknown route 404, past the plugin", async () => {
    await appWith();
    expect((await get("/no-such-route")).statusCode).toBe(404);
    expect((await get("/api/no-such-route", "Bearer wrong")).statusCode).toBe(404);
  });
});

describe("the failed-attempt limit", () => {
  it("refuses an address with 429 once it used up its failures, still lets right tokens from it in, and counts other addresses apart", async () => {
    await appWith(3);
    for (let i = 0; i < 3; i++) expect((await get("/api/things", `Bearer wrong-${i}`, "10.1.1.1")).statusCode).toBe(401);
    const blocked = await get("/api/things", "Bearer wrong-again", "10.1.1.1");
    expect(blocked.statusCode).toBe(429);
    const retryAfter = Number(blocked.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(blocked.json()).toEqual({ code: "too_many_requests", message: `too many failed authentications from this address; try again in ${retryAfter} s` });
    expect(blocked.headers.connection).toBe("close");
    // Without a token at all it is a failure too.
    expect((await get("/api/things", undefined, "10.1.1.1")).statusCode).toBe(429);
    expect((await get("/api/things", `Bearer ${READER}`, "10.1.1.1")).statusCode).toBe(200);
    expect((await get("/api/things", "Bearer wrong", "10.1.1.2")).statusCode).toBe(401);
  });

  it("logs each failure at warn without the token, and the one that reaches the limit as the client's refusal", async () => {
    await appWith(3);
    await get("/api/things", "Bearer secret-guess-1", "10.2.2.2");
    await get("/api/things", undefined, "10.2.2.2");
    await get("/api/things", "Bearer secret-guess-3", "10.2.2.2");
    await get("/api/things", "Bearer secret-guess-4", "10.2.2.2");
    const warnings = logLines.filter((l) => l.level === 40);
    expect(warnings.map(({ client, url, tokenSent, blocked }) => ({ client, url, tokenSent, blocked }))).toEqual([
      { client: "10.2.2.2", url: "/api/things", tokenSent: true, blocked: false },
      { client: "10.2.2.2", url: "/api/things", tokenSent: false, blocked: false },
      { client: "10.2.2.2", url: "/api/things", tokenSent: true, blocked: true },
    ]);
    expect(warnings.slice(0, 2).map((w) => w.msg)).toEqual(["authentication failed", "authentication failed"]);
    expect(warnings[2]!.msg).toMatch(/^authentication failed 3 times in a minute: client refused for (60|59) s$/);
    expect(JSON.stringify(logLines)).not.toContain("secret-guess");
  });

  it("allows 20 failures a minute by default", async () => {
    await appWith();
    for (let i = 0; i < 20; i++) expect((await get("/api/things", "Bearer wrong", "10.3.3.3")).statusCode).toBe(401);
    expect((await get("/api/things", "Bearer wrong", "10.3.3.3")).statusCode).toBe(429);
  });
});
