/**
 * The audit log's hash chain, checked on demand: every row's hash recomputed
 * in chain order, the first row that does not check out named with the
 * reason. Admin only: the answer is about the whole fleet's log.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { verifyAuditChain } from "../db/audit.ts";
import { errorResponse } from "../../api/schemas.ts";

const Hash = Type.String({ pattern: "^[0-9a-fA-F]{64}$", description: "SHA-256, hex" });

export const AuditVerifyQuery = Type.Object({
  headSeq: Type.Optional(Type.Integer({ minimum: 1, description: "chainSeq of a head exported earlier (with headHash): the row there must still carry that hash" })),
  headHash: Type.Optional(Hash),
}, { additionalProperties: false });

export const AuditVerifyResponse = Type.Object({
  ok: Type.Boolean({ description: "Every row checks out (and the exported head, when given, is still in the chain)" }),
  rows: Type.Integer({ description: "Rows that checked out, in chain order, before the first broken one" }),
  head: Type.Union([
    Type.Object({ chainSeq: Type.Integer(), id: Type.Integer(), hash: Type.String() }),
    Type.Null(),
  ], { description: "The last row that checked out: keep chainSeq and hash somewhere the database's administrators cannot write, and pass them back as headSeq and headHash" }),
  broken: Type.Union([
    Type.Object({
      id: Type.Union([Type.Integer(), Type.Null()], { description: "The audit row's id; null when the chain ends before the exported head" }),
      chainSeq: Type.Union([Type.Integer(), Type.Null()]),
      reason: Type.String(),
    }),
    Type.Null(),
  ], { description: "The first row that does not check out, and why" }),
}, { description: "The audit log's hash chain, checked" });

const auditRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/api/v1/audit/verify", {
    config: { scope: "admin" },
    schema: {
      summary: "Recompute the audit log's hash chain and name the first row that does not check out (changed, removed or inserted behind the triggers' back)",
      querystring: AuditVerifyQuery,
      response: {
        200: AuditVerifyResponse,
        400: errorResponse("headSeq and headHash must come together; `details` names each field"),
        401: errorResponse("No valid bearer token"),
        403: errorResponse("The token may only read; the check needs an admin token"),
        500: errorResponse("Something failed on the service's side; quote the request id"),
      },
    },
  }, async (request, reply) => {
    const { headSeq, headHash } = request.query;
    if ((headSeq === undefined) !== (headHash === undefined)) {
      return reply.code(400).send({ code: "invalid_request", message: "the request querystring is invalid", details: [{ field: headSeq === undefined ? "headSeq" : "headHash", message: "headSeq and headHash come together, or neither" }] });
    }
    return verifyAuditChain(fastify.db, headSeq !== undefined ? { anchor: { chainSeq: headSeq, hash: headHash! } } : {});
  });
};

export default auditRoutes;
