import { Writable } from "node:stream";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { loggerOptions } from "../../server/build.ts";
import { redactUrl } from "../../server/log-redaction.ts";

describe("tokens in request logs", () => {
  it("logs a WebSocket URL with its access_token replaced, keeping the rest of the query", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
    const app = Fastify({ logger: loggerOptions("info", stream) });
    app.get("/ws/provisioning", async () => ({ ok: true }));
    await app.inject({ method: "GET", url: "/ws/provisioning?access_token=s3cret-token-0123456789&x=1", headers: { authorization: "Bearer other-s3cret" } });
    await app.close();
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.req);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests[0].req.url).toBe("/ws/provisioning?access_token=[redacted]&x=1");
    expect(lines.join("\n")).not.toMatch(/s3cret/);
  });

  it("leaves URLs without a token as they are", () => {
    expect(redactUrl("/api/v1/fleet?status=FAILED&search=a%2Bb")).toBe("/api/v1/fleet?status=FAILED&search=a%2Bb");
    expect(redactUrl("/admin")).toBe("/admin");
    expect(redactUrl("/ws/provisioning/acme?access_token=abc")).toBe("/ws/provisioning/acme?access_token=[redacted]");
  });
});
