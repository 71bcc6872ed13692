import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { listErrorResponses } from "../../api/schemas.ts";
import { toCloudEvent } from "../outbox/cloudevents.ts";
import { listEvents } from "../db/outbox.ts";

export const EventsQuery = Type.Object({
  after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: "Only events with a larger seq; pass the previous page's nextAfter" }),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "Event type, such as tenant.provisioned" })),
  tenantId: Type.Optional(Type.String({ format: "uuid" })),
}, { additionalProperties: false });

export const CloudEventSchema = Type.Object({
  specversion: Type.Literal("1.0"),
  id: Type.String({ description: "Stable across deliveries: drop duplicates by it" }),
  source: Type.String(),
  type: Type.String(),
  subject: Type.Optional(Type.String({ description: "The tenant id" })),
  time: Type.String({ format: "date-time" }),
  datacontenttype: Type.Literal("application/json"),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const EventList = Type.Object({
  items: Type.Array(Type.Object({
    seq: Type.Integer({ description: "Position in the outbox; commit order" }),
    sentAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "When Kafka acknowledged it; null while it waits" }),
    attempts: Type.Integer(),
    lastError: Type.Union([Type.String(), Type.Null()]),
    event: CloudEventSchema,
  })),
  nextAfter: Type.Integer({ description: "Pass as `after` for the next page" }),
});

/** The outbox's events, sent or waiting: the way to read them without Kafka. */
const eventRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/api/v1/events", {
    config: { scope: "read" },
    schema: {
      summary: "Tenant events (CloudEvents 1.0) in commit order, with whether and when they were published to Kafka",
      querystring: EventsQuery,
      response: { 200: { ...EventList, description: "A page of events" }, ...listErrorResponses },
    },
  }, async (request) => {
    const { after, limit, type, tenantId } = request.query;
    const rows = await listEvents(fastify.db, { after, limit, type, tenantId });
    return {
      items: rows.map((r) => ({
        seq: r.seq,
        sentAt: r.sentAt ? r.sentAt.toISOString() : null,
        attempts: r.attempts,
        lastError: r.lastError,
        event: toCloudEvent(r, fastify.outbox.source),
      })),
      nextAfter: rows.length > 0 ? rows[rows.length - 1]!.seq : after,
    };
  });
};

export default eventRoutes;
