/**
 * The admin dashboard at /admin, served by the service itself (same origin as
 * the API; nothing is loaded from anywhere else), and the two small reads it
 * needs besides the tenant API: who the token belongs to, and the choices a
 * tenant request offers.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { PHASES } from "../../model/phases.ts";
import { AZURE_REGIONS } from "../../model/regions.ts";
import type { PlatformSettings } from "../../model/settings.ts";
import { TIERS } from "../../model/tiers.ts";
import { dashboardAssets, type AssetName } from "../admin/assets.ts";
import { errorResponses } from "../../api/schemas.ts";

/**
 * The page runs under this policy: scripts, styles and connections from this
 * origin only, no inline script or style, no framing.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SessionResponse = Type.Object({
  principal: Type.String(),
  scope: Type.Union([Type.Literal("read"), Type.Literal("admin")]),
}, { description: "The caller's token: whose it is and its scope" });

const PlatformResponse = Type.Object({
  baseDomain: Type.String(),
  tiers: Type.Array(Type.String()),
  regions: Type.Array(Type.String(), { description: "Regions a tenant request accepts" }),
  phases: Type.Array(Type.Object({ number: Type.Integer(), name: Type.String(), summary: Type.String() })),
}, { description: "What a tenant request may choose, and the phases" });

const adminRoutes: FastifyPluginAsyncTypebox<{ settings: PlatformSettings }> = async (fastify, opts) => {
  const assets = dashboardAssets();

  async function serve(name: AssetName, request: FastifyRequest, reply: FastifyReply) {
    const asset = (await assets()).get(name)!;
    reply
      .header("content-type", asset.contentType)
      .header("etag", asset.etag)
      .header("cache-control", "no-cache")
      .header("vary", "accept-encoding")
      .header("x-content-type-options", "nosniff");
    if (name === "index.html") reply.header("content-security-policy", DASHBOARD_CSP).header("referrer-policy", "no-referrer");
    if (request.headers["if-none-match"] === asset.etag) return reply.code(304).send();
    if (/\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""))) return reply.header("content-encoding", "gzip").send(asset.gzip);
    return reply.send(asset.body);
  }

  const page = { schema: { hide: true } };
  fastify.get("/admin", page, (request, reply) => serve("index.html", request, reply));
  fastify.get("/admin/", page, (_request, reply) => reply.redirect("/admin", 301));
  fastify.get("/admin/app.js", page, (request, reply) => serve("app.js", request, reply));
  fastify.get("/admin/app.css", page, (request, reply) => serve("app.css", request, reply));

  fastify.get("/api/v1/session", {
    config: { scope: "read" },
    schema: { summary: "Whose token this is and what it may do", response: { 200: SessionResponse, ...errorResponses } },
  }, async (request) => ({ principal: request.principal!.name, scope: request.principal!.scope }));

  fastify.get("/api/v1/platform", {
    config: { scope: "read" },
    schema: { summary: "What a tenant request may choose (tiers, regions) and the ten phases", response: { 200: PlatformResponse, ...errorResponses } },
  }, async () => ({
    baseDomain: opts.settings.baseDomain,
    tiers: [...TIERS],
    regions: [...AZURE_REGIONS],
    phases: PHASES.map((p) => ({ number: p.number, name: p.name, summary: p.summary })),
  }));
};

export default adminRoutes;
