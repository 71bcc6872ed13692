/**
 * One review queue for the fleet (issue 23): GET /api/v1/changes lists what
 * awaits review (PENDING_REVIEW by default) across every tenant, oldest first,
 * so reviewers need not visit tenants one by one. Each item says what it is
 * a change to: one tenant (`kind: "tenant"`) or the fleet (`kind: "fleet"`, a
 * platform settings change with its grouped impact).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { reviewQueuePage } from "../db/review-queue.ts";
import { changeLocation } from "./change-json.ts";
import { fleetChangeLocation } from "./fleet-changes.ts";
import { listErrorResponses, ReviewQueue, ReviewQueueQuery } from "../../api/schemas.ts";

const reviewQueueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/api/v1/changes", {
    config: { scope: "read" },
    schema: {
      summary: "Tenant and fleet changes awaiting review (or in another status) across the fleet, oldest first; filter by tenant, tier and requester",
      querystring: ReviewQueueQuery,
      response: { 200: ReviewQueue, ...listErrorResponses },
    },
  }, async (request) => {
    const { status = "PENDING_REVIEW", tenant, tier, requestedBy, limit, offset } = request.query;
    const page = await reviewQueuePage(fastify.db, { status, ...(tenant ? { tenant } : {}), ...(tier ? { tier } : {}), ...(requestedBy ? { requestedBy } : {}), limit, offset });
    return {
      items: page.items.map((c) => c.source === "fleet"
        ? {
          kind: "fleet" as const,
          id: c.id,
          status: c.status,
          requestedBy: c.createdBy,
          reason: c.reason,
          createdAt: new Date(c.createdAt).toISOString(),
          changedPaths: c.changedPaths,
          selector: c.selector,
          tenants: c.selected,
          groups: c.groups,
          destructive: c.destructive,
          destructiveTenants: c.destructiveTenants,
          failedTenants: c.failedTenants,
          rolloutId: c.rolloutId,
          href: fleetChangeLocation(c.id),
        }
        : {
          kind: "tenant" as const,
          id: c.id,
          action: c.kind,
          status: c.status,
          tenant: { id: c.tenantId, slug: c.tenantSlug, tier: c.tenantTier, status: c.tenantStatus },
          target: { tier: c.targetTier, lastPhase: c.targetPhase },
          requestedBy: c.createdBy,
          reason: c.requested.reason ?? null,
          createdAt: new Date(c.createdAt).toISOString(),
          expiresAt: new Date(c.expiresAt).toISOString(),
          destructive: c.destructive,
          changeSummary: c.changeSummary,
          href: changeLocation({ tenantId: c.tenantId, id: c.id }),
        }),
      total: page.total,
      limit,
      offset,
    };
  });
};

export default reviewQueueRoutes;
